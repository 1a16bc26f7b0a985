//! The wrapper: `sqlx::Executor` for a pool or a connection, one CLIENT
//! span per query.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, Stream};
use futures_util::FutureExt;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgQueryResult, PgRow, PgStatement, PgTypeInfo, Postgres};
use sqlx::{Describe, Either, Execute, Executor, SqlStr};
use tracing::{Instrument, Span};

use crate::spans::{self, Server};

/// An executor (`&PgPool`, `&mut PgConnection`, a transaction's
/// connection) whose queries open a CLIENT span each. Get one from
/// [`TracedPool::on`](crate::TracedPool::on); `&TracedPool` is one too, and
/// so is `&mut *tx` of a [`TracedTransaction`](crate::TracedTransaction)
/// (a `&mut Traced<Transaction>`).
///
/// Queries of every kind go through it: `sqlx::query`, `query_as`,
/// `query_scalar`, `raw_sql`, and the checked `query!`/`query_as!` macros.
/// Statement preparation (`prepare`, and `describe`, which sqlx's macros
/// use at compile time against a connection of their own) is forwarded
/// without a span: it runs no query of the pipeline's.
#[derive(Debug)]
pub struct Traced<E> {
    pub(crate) inner: E,
    pub(crate) server: Arc<Server>,
}

/// A query taken apart (its text, arguments and caching flag) so that its
/// text can be read before sqlx runs it.
struct Forward {
    sql: SqlStr,
    args: Option<Result<Option<PgArguments>, BoxDynError>>,
    persistent: bool,
}

impl Execute<'_, Postgres> for Forward {
    fn sql(self) -> SqlStr {
        self.sql
    }

    fn statement(&self) -> Option<&PgStatement> {
        None
    }

    fn take_arguments(&mut self) -> Result<Option<PgArguments>, BoxDynError> {
        self.args.take().unwrap_or(Ok(None))
    }

    fn persistent(&self) -> bool {
        self.persistent
    }
}

fn open<'q, Q: Execute<'q, Postgres>>(server: &Server, mut query: Q) -> (Span, Forward) {
    let persistent = query.persistent();
    let args = query.take_arguments();
    let sql = query.sql();
    let span = spans::query_span(server, sql.as_str());
    (
        span,
        Forward {
            sql,
            args: Some(args),
            persistent,
        },
    )
}

impl<'c, E> Executor<'c> for Traced<E>
where
    E: Executor<'c, Database = Postgres>,
{
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Postgres>,
    {
        let (span, forward) = open(&self.server, query);
        let inner = {
            let _enter = span.enter();
            self.inner.fetch_many(forward)
        };
        Box::pin(SpanStream { inner, span })
    }

    fn fetch_optional<'e, 'q: 'e, Q>(
        self,
        query: Q,
    ) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'c: 'e,
        Q: 'q + Execute<'q, Postgres>,
    {
        let (span, forward) = open(&self.server, query);
        let fut = {
            let _enter = span.enter();
            self.inner.fetch_optional(forward)
        };
        async move {
            let result = fut.instrument(span.clone()).await;
            if let Err(e) = &result {
                spans::on_error(&span, e);
            }
            result
        }
        .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.prepare_with(sql, parameters)
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<Describe<Postgres>, sqlx::Error>>
    where
        'c: 'e,
    {
        self.inner.describe(sql)
    }
}

/// The row stream of one query, polled inside its span; the span ends
/// with the stream (finished or dropped).
struct SpanStream<'e> {
    inner: BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>,
    span: Span,
}

impl Stream for SpanStream<'_> {
    type Item = Result<Either<PgQueryResult, PgRow>, sqlx::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let _enter = this.span.enter();
        let next = this.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Err(e))) = &next {
            spans::on_error(&this.span, e);
        }
        next
    }
}
