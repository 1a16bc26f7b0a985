//! `TracedTransaction`: a transaction whose queries (`&mut *tx`), `BEGIN`,
//! `COMMIT` and `ROLLBACK` are traced.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use sqlx::postgres::{PgQueryResult, PgRow, PgStatement, PgTypeInfo, Postgres};
use sqlx::{Acquire, Describe, Either, Execute, Executor, PgPool, SqlStr, Transaction};
use tracing::Instrument;

use crate::executor::Traced;
use crate::spans::{self, Server};

/// A transaction begun with [`TracedPool::begin`](crate::TracedPool::begin):
/// `&mut *tx` is an executor whose queries are CLIENT spans like the
/// pool's, and `BEGIN`, `COMMIT`, `ROLLBACK` (and the savepoints of
/// [`begin`](Self::begin)) are spans too, so a serialization failure at
/// `COMMIT` shows on the span that failed. Dropped without `commit`, it
/// rolls back as a `sqlx::Transaction` does (queued, untraced).
///
/// ```no_run
/// use pipeline_telemetry_sqlx::TracedPool;
///
/// # async fn demo(db: &TracedPool) -> Result<(), sqlx::Error> {
/// let mut tx = db.begin().await?;
/// let row: (i64,) = sqlx::query_as("SELECT count(*) FROM items")
///     .fetch_one(&mut *tx)
///     .await?;
/// sqlx::query("INSERT INTO counts (n) VALUES ($1)")
///     .bind(row.0)
///     .execute(&mut *tx)
///     .await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
///
/// Where sqlx leaves no room for tracing: a transaction begun by sqlx
/// itself (`PgPool::begin`, `PgConnection::begin`, or generic code over
/// `sqlx::Acquire`, whose `begin` returns sqlx's own `Transaction` and
/// whose connection must deref to `PgConnection`) cannot carry the span
/// context: trace its queries with [`TracedPool::on`](crate::TracedPool::on)
/// one by one, and its `BEGIN`/`COMMIT` go untraced.
#[derive(Debug)]
pub struct TracedTransaction<'c> {
    inner: Traced<Transaction<'c, Postgres>>,
}

/// Runs one transaction-control statement (`BEGIN`, `COMMIT`, ...) inside a
/// CLIENT span of its own, marked on failure.
async fn control<T>(
    server: &Server,
    statement: &str,
    fut: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    let span = spans::query_span(server, statement);
    let result = fut.instrument(span.clone()).await;
    if let Err(e) = &result {
        spans::on_error(&span, e);
    }
    result
}

impl TracedTransaction<'static> {
    pub(crate) async fn begin_on(pool: &PgPool, server: Arc<Server>) -> Result<Self, sqlx::Error> {
        let tx = control(&server, "BEGIN", pool.begin()).await?;
        Ok(TracedTransaction {
            inner: Traced { inner: tx, server },
        })
    }
}

impl TracedTransaction<'_> {
    /// Commits (a `COMMIT` span; `RELEASE SAVEPOINT` for a nested one).
    ///
    /// # Errors
    ///
    /// What `sqlx::Transaction::commit` returns (a serialization failure,
    /// a deferred constraint, a lost connection).
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let Traced { inner, server } = self.inner;
        control(&server, "COMMIT", inner.commit()).await
    }

    /// Rolls back (a `ROLLBACK` span; `ROLLBACK TO SAVEPOINT` for a nested
    /// one).
    ///
    /// # Errors
    ///
    /// What `sqlx::Transaction::rollback` returns.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let Traced { inner, server } = self.inner;
        control(&server, "ROLLBACK", inner.rollback()).await
    }

    /// Begins a nested transaction (a savepoint, a `SAVEPOINT` span),
    /// traced like this one.
    ///
    /// # Errors
    ///
    /// What sqlx returns when the savepoint cannot be made.
    pub async fn begin(&mut self) -> Result<TracedTransaction<'_>, sqlx::Error> {
        let server = Arc::clone(&self.inner.server);
        let tx = control(&server, "SAVEPOINT", (&mut self.inner.inner).begin()).await?;
        Ok(TracedTransaction {
            inner: Traced { inner: tx, server },
        })
    }
}

impl<'c> TracedTransaction<'c> {
    /// The sqlx transaction underneath, for an API that wants sqlx's own
    /// type (queries run on it are not traced).
    pub fn as_sqlx(&mut self) -> &mut Transaction<'c, Postgres> {
        &mut self.inner.inner
    }
}

impl<'c> Deref for TracedTransaction<'c> {
    type Target = Traced<Transaction<'c, Postgres>>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl DerefMut for TracedTransaction<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

impl<'t> Executor<'t> for &'t mut Traced<Transaction<'_, Postgres>> {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        't: 'e,
        Q: 'q + Execute<'q, Postgres>,
    {
        Traced {
            inner: &mut *self.inner,
            server: Arc::clone(&self.server),
        }
        .fetch_many(query)
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        't: 'e,
        Q: 'q + Execute<'q, Postgres>,
    {
        Traced {
            inner: &mut *self.inner,
            server: Arc::clone(&self.server),
        }
        .fetch_optional(query)
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        't: 'e,
    {
        (&mut *self.inner).prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        't: 'e,
    {
        (&mut *self.inner).describe(sql)
    }
}
