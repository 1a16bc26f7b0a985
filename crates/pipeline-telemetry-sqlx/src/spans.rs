//! The CLIENT span of one query, with the OpenTelemetry database
//! conventions, and how it ends.

use opentelemetry_semantic_conventions::attribute as semconv;
use tracing::field::Empty;
use tracing::Span;

use crate::error;
use crate::sql;

/// The `tracing` target of the query spans.
pub const TARGET: &str = "pipeline_telemetry_sqlx";

/// The operation name Datadog gives the span (`{db.system}.query`).
pub const OPERATION: &str = "postgresql.query";

/// Where the database is, recorded on every span.
#[derive(Debug, Clone, Default)]
pub(crate) struct Server {
    pub(crate) address: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) namespace: Option<String>,
}

/// Opens the span of one query, a child of the current span (the stage
/// that runs it). The query text has its literals removed first.
pub(crate) fn query_span(server: &Server, raw_sql: &str) -> Span {
    let text = sql::strip_literals(raw_sql);
    let op = sql::operation(&text);
    let table = op.as_deref().and_then(|op| sql::collection(&text, op));
    let name = match (&op, &table) {
        (Some(op), Some(t)) => format!("{op} {t}"),
        (Some(op), None) => op.clone(),
        _ => "postgresql".to_owned(),
    };
    tracing::info_span!(
        target: TARGET,
        "postgresql.query",
        otel.name = name.as_str(),
        otel.kind = "client",
        "operation.name" = OPERATION,
        "resource.name" = text.as_str(),
        "span.type" = "sql",
        { semconv::DB_SYSTEM_NAME } = "postgresql",
        "db.system" = "postgresql",
        { semconv::DB_QUERY_TEXT } = text.as_str(),
        { semconv::DB_OPERATION_NAME } = op.as_deref(),
        { semconv::DB_COLLECTION_NAME } = table.as_deref(),
        { semconv::DB_NAMESPACE } = server.namespace.as_deref(),
        { semconv::SERVER_ADDRESS } = server.address.as_deref(),
        { semconv::SERVER_PORT } = server.port.map(i64::from),
        { semconv::DB_RESPONSE_STATUS_CODE } = Empty,
        { semconv::ERROR_TYPE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    )
}

/// Marks the span of a failed query: `db.response.status_code` (the
/// SQLSTATE), `error.type` and the error status. The description is the
/// server's message, which PostgreSQL may fill with values (`Key (id)=(7)
/// already exists`): only the SQLSTATE and the bounded type go on the span.
pub(crate) fn on_error(span: &Span, err: &sqlx::Error) {
    let code = error::sqlstate(err);
    if let Some(code) = &code {
        span.record(semconv::DB_RESPONSE_STATUS_CODE, code.as_str());
    }
    let ty = error::error_type(err);
    span.record(semconv::ERROR_TYPE, ty);
    span.record("otel.status_code", "error");
    span.record("otel.status_description", ty);
}
