//! `TracedPool`: a `PgPool` whose queries are traced.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::ConnectOptions;

use crate::error::ConnectError;
use crate::executor::Traced;
use crate::spans::Server;

/// How long [`TracedPool::connect`] waits for the first connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A `PgPool` whose queries each open a CLIENT span (`postgresql.query`),
/// child of the current stage span. Pass `&db` wherever sqlx takes an
/// executor; the queries themselves stay ordinary sqlx code.
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
/// let mut tx = db.pool().begin().await?;
/// sqlx::query("DELETE FROM items").execute(db.on(&mut *tx)).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TracedPool {
    pool: PgPool,
    server: Arc<Server>,
}

impl TracedPool {
    /// Wraps a pool; `server.address`, `server.port` and `db.namespace`
    /// come from its connect options.
    pub fn new(pool: PgPool) -> Self {
        let opts = pool.connect_options();
        let server = Arc::new(Server {
            address: Some(opts.get_host().to_owned()),
            port: Some(opts.get_port()),
            namespace: opts.get_database().map(str::to_owned),
        });
        TracedPool { pool, server }
    }

    /// Connects a pool to `url` and checks that the server answers within
    /// [`CONNECT_TIMEOUT`] (sqlx's other pool defaults apply). The error
    /// names the address tried, never the password.
    ///
    /// # Errors
    ///
    /// [`ConnectError::Url`] when `url` is not a PostgreSQL URL, and
    /// [`ConnectError::Connect`] when the server does not accept a
    /// connection within [`CONNECT_TIMEOUT`] (down, wrong port, refused
    /// credentials).
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        let opts: PgConnectOptions = url.parse().map_err(ConnectError::Url)?;
        let address = format!("{}:{}", opts.get_host(), opts.get_port());
        let opts = opts.disable_statement_logging();
        let pool = PgPoolOptions::new()
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(|source| ConnectError::Connect { address, source })?;
        Ok(Self::new(pool))
    }

    /// The wrapped pool (untraced).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Traces the queries run on `executor` (a connection, a transaction's
    /// `&mut *tx`) as queries of this pool's server.
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
}
