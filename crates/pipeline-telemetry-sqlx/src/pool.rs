//! `TracedPool`: a `PgPool` whose queries are traced.

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPool};

use crate::error::ConnectError;
use crate::executor::Traced;
use crate::spans::Server;
use crate::transaction::TracedTransaction;

/// A `PgPool` whose queries each open a CLIENT span (`postgresql.query`),
/// child of the current stage span. Pass `&db` wherever sqlx takes an
/// executor; the queries themselves stay ordinary sqlx code, the
/// `query!`/`query_as!` macros included. [`begin`](Self::begin) starts a
/// transaction whose queries (`&mut *tx`) are traced the same way.
///
/// ```no_run
/// use pipeline_telemetry_sqlx::TracedPool;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let db = TracedPool::connect("postgres://postgres@127.0.0.1:5432/test").await?;
/// sqlx::query("INSERT INTO items (id, name) VALUES ($1, $2)")
///     .bind(7_i64)
///     .bind("seven")
///     .execute(&db)
///     .await?;
/// let mut tx = db.begin().await?;
/// sqlx::query("DELETE FROM items").execute(&mut *tx).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TracedPool {
    pool: PgPool,
    server: Arc<Server>,
}

impl TracedPool {
    /// Wraps a pool as it is (none of its options changes);
    /// `server.address`, `server.port` and `db.namespace` come from its
    /// connect options.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use pipeline_telemetry_sqlx::TracedPool;
    /// use sqlx::postgres::PgPoolOptions;
    ///
    /// # async fn demo() -> Result<(), sqlx::Error> {
    /// let pool = PgPoolOptions::new()
    ///     .max_connections(20)
    ///     .acquire_timeout(Duration::from_secs(3))
    ///     .connect("postgres://postgres@127.0.0.1:5432/test")
    ///     .await?;
    /// let db = TracedPool::new(pool);
    /// # Ok(()) }
    /// ```
    pub fn new(pool: PgPool) -> Self {
        let opts = pool.connect_options();
        let server = Arc::new(Server {
            address: Some(opts.get_host().to_owned()),
            port: Some(opts.get_port()),
            namespace: opts.get_database().map(str::to_owned),
        });
        TracedPool { pool, server }
    }

    /// Connects a pool to `url` exactly as `PgPool::connect(url)` does
    /// (sqlx's defaults: 10 connections, a 30 s acquire timeout, statements
    /// logged and slow ones warned about), then wraps it. For other
    /// options, build the pool with `PgPoolOptions` and pass it to
    /// [`new`](Self::new). The error names the address tried, never the
    /// password.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Url`] when `url` is not a PostgreSQL URL, and
    /// [`ConnectError::Connect`] when the server does not accept a
    /// connection within the pool's acquire timeout (down, wrong port,
    /// refused credentials).
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let opts: PgConnectOptions = url.parse().map_err(ConnectError::Url)?;
        let address = format!("{}:{}", opts.get_host(), opts.get_port());
        let pool = PgPool::connect_with(opts)
            .await
            .map_err(|source| ConnectError::Connect { address, source })?;
        Ok(Self::new(pool))
    }

    /// Begins a transaction on a connection of the pool (a `BEGIN` span);
    /// every query run on `&mut *tx` is traced, with no
    /// [`on`](Self::on), and so are `commit` and `rollback`.
    ///
    /// ```no_run
    /// # async fn demo(db: &pipeline_telemetry_sqlx::TracedPool) -> Result<(), sqlx::Error> {
    /// let mut tx = db.begin().await?;
    /// sqlx::query("UPDATE accounts SET balance = balance - 5 WHERE id = 1")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// sqlx::query("UPDATE accounts SET balance = balance + 5 WHERE id = 2")
    ///     .execute(&mut *tx)
    ///     .await?;
    /// tx.commit().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// What `PgPool::begin` returns: no connection within the acquire
    /// timeout, or `BEGIN` failed.
    pub async fn begin(&self) -> Result<TracedTransaction<'static>, sqlx::Error> {
        TracedTransaction::begin_on(&self.pool, Arc::clone(&self.server)).await
    }

    /// The wrapped pool (untraced).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Traces the queries run on `executor` as queries of this pool's
    /// server: a connection (`&mut *conn` of `db.pool().acquire()`), or a
    /// transaction that [`begin`](Self::begin) did not start (one from
    /// `sqlx::Acquire::begin`, `PgConnection::begin`, `db.pool().begin()`),
    /// whose `&mut *tx` needs `db.on(..)` on each query.
    pub fn on<E>(&self, executor: E) -> Traced<E> {
        Traced {
            inner: executor,
            server: Arc::clone(&self.server),
        }
    }
}

impl<'p> sqlx::Executor<'p> for &'p TracedPool {
    type Database = sqlx::Postgres;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> futures_util::stream::BoxStream<
        'e,
        Result<sqlx::Either<sqlx::postgres::PgQueryResult, sqlx::postgres::PgRow>, sqlx::Error>,
    >
    where
        'p: 'e,
        Q: 'q + sqlx::Execute<'q, sqlx::Postgres>,
    {
        self.on(&self.pool).fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> futures_util::future::BoxFuture<'e, Result<Option<sqlx::postgres::PgRow>, sqlx::Error>>
    where
        'p: 'e,
        Q: 'q + sqlx::Execute<'q, sqlx::Postgres>,
    {
        self.on(&self.pool).fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [sqlx::postgres::PgTypeInfo],
    ) -> futures_util::future::BoxFuture<'e, Result<sqlx::postgres::PgStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> futures_util::future::BoxFuture<'e, Result<sqlx::Describe<sqlx::Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        self.pool.describe(sql)
    }
}
