//! Errors: a `sqlx::Error` that names its own bounded `error_type` (from
//! the SQLSTATE) for `pipeline.errors`, and the connection error.

use pipeline_telemetry::ErrorType;

/// SQLSTATEs common enough in pipelines to get their own `error_type`.
const NAMED: &[(&str, &str)] = &[
    ("40P01", "sqlstate_40P01_deadlock_detected"),
    ("40001", "sqlstate_40001_serialization_failure"),
    ("55P03", "sqlstate_55P03_lock_not_available"),
    ("57014", "sqlstate_57014_query_canceled"),
    ("23505", "sqlstate_23505_unique_violation"),
    ("23503", "sqlstate_23503_foreign_key_violation"),
    ("23502", "sqlstate_23502_not_null_violation"),
    ("42P01", "sqlstate_42P01_undefined_table"),
    ("42703", "sqlstate_42703_undefined_column"),
    ("42601", "sqlstate_42601_syntax_error"),
    ("53300", "sqlstate_53300_too_many_connections"),
];

/// Every other SQLSTATE, by its class (the first two characters), per
/// PostgreSQL's Appendix A.
const CLASSES: &[(&str, &str)] = &[
    ("08", "sqlstate_class_08_connection_exception"),
    ("0A", "sqlstate_class_0A_feature_not_supported"),
    ("21", "sqlstate_class_21_cardinality_violation"),
    ("22", "sqlstate_class_22_data_exception"),
    ("23", "sqlstate_class_23_integrity_constraint_violation"),
    ("25", "sqlstate_class_25_invalid_transaction_state"),
    ("28", "sqlstate_class_28_invalid_authorization"),
    ("3D", "sqlstate_class_3D_invalid_catalog_name"),
    ("3F", "sqlstate_class_3F_invalid_schema_name"),
    ("40", "sqlstate_class_40_transaction_rollback"),
    (
        "42",
        "sqlstate_class_42_syntax_error_or_access_rule_violation",
    ),
    ("53", "sqlstate_class_53_insufficient_resources"),
    ("54", "sqlstate_class_54_program_limit_exceeded"),
    ("55", "sqlstate_class_55_object_not_in_prerequisite_state"),
    ("57", "sqlstate_class_57_operator_intervention"),
    ("58", "sqlstate_class_58_system_error"),
    ("P0", "sqlstate_class_P0_plpgsql_error"),
    ("XX", "sqlstate_class_XX_internal_error"),
];

/// The bounded `error_type` of a `sqlx::Error`: a named SQLSTATE
/// (`sqlstate_40P01_deadlock_detected`), else its SQLSTATE class
/// (`sqlstate_class_22_data_exception`), else `sqlstate_other` for a code
/// outside those classes; for errors without a SQLSTATE, the kind of
/// failure (`pool_timed_out`, `io`, `tls`, `protocol`, `row_not_found`,
/// `decode`, `encode`, `sqlx_other`).
///
/// ```
/// use pipeline_telemetry_sqlx::error_type;
/// assert_eq!(error_type(&sqlx::Error::RowNotFound), "row_not_found");
/// assert_eq!(error_type(&sqlx::Error::PoolTimedOut), "pool_timed_out");
/// ```
pub fn error_type(err: &sqlx::Error) -> &'static str {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => sqlstate_error_type(&code),
            None => "sqlstate_other",
        },
        sqlx::Error::PoolTimedOut => "pool_timed_out",
        sqlx::Error::PoolClosed => "pool_closed",
        sqlx::Error::Io(_) => "io",
        sqlx::Error::Tls(_) => "tls",
        sqlx::Error::Protocol(_) => "protocol",
        sqlx::Error::RowNotFound => "row_not_found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => "decode",
        sqlx::Error::Encode(_) => "encode",
        _ => "sqlx_other",
    }
}

/// The `error_type` of one SQLSTATE (see [`error_type`]).
pub fn sqlstate_error_type(code: &str) -> &'static str {
    if let Some((_, name)) = NAMED.iter().find(|(c, _)| *c == code) {
        return name;
    }
    code.get(..2)
        .and_then(|class| CLASSES.iter().find(|(c, _)| *c == class))
        .map_or("sqlstate_other", |(_, name)| name)
}

/// The SQLSTATE of an error, if the server sent one.
pub fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()
        .and_then(|db| db.code())
        .map(|c| c.into_owned())
}

/// A `sqlx::Error` whose `error_type` (for `pipeline.errors` of the stage
/// that returns it) comes from its SQLSTATE: return it from a
/// `#[instrument_stage]` function or a stage run with
/// [`Stage::run_async_typed`](pipeline_telemetry::Stage::run_async_typed).
///
/// ```
/// use pipeline_telemetry::Stage;
/// use pipeline_telemetry_sqlx::{DbError, TracedPool};
///
/// static LOAD: Stage = Stage::new("load");
///
/// async fn load(db: &TracedPool) -> Result<u64, DbError> {
///     LOAD.run_async_typed(async {
///         let done = sqlx::query("DELETE FROM staging").execute(db).await?;
///         Ok(done.rows_affected())
///     })
///     .await
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DbError(#[from] pub sqlx::Error);

impl DbError {
    /// The SQLSTATE the server sent, if any.
    pub fn sqlstate(&self) -> Option<String> {
        sqlstate(&self.0)
    }
}

impl ErrorType for DbError {
    fn error_type(&self) -> &'static str {
        error_type(&self.0)
    }
}

/// [`TracedPool::connect`](crate::TracedPool::connect) could not reach the
/// database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL could not be parsed.
    #[error("invalid database URL")]
    Url(#[source] sqlx::Error),
    /// The server did not accept a connection (down, wrong port, auth).
    #[error("cannot connect to PostgreSQL at {address}")]
    Connect {
        /// `host:port` tried (never the password).
        address: String,
        /// What sqlx reported.
        #[source]
        source: sqlx::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_a_bounded_set() {
        assert_eq!(
            sqlstate_error_type("40P01"),
            "sqlstate_40P01_deadlock_detected"
        );
        assert_eq!(
            sqlstate_error_type("22012"),
            "sqlstate_class_22_data_exception"
        );
        assert_eq!(sqlstate_error_type("ZZ999"), "sqlstate_other");
        assert_eq!(sqlstate_error_type(""), "sqlstate_other");
        assert_eq!(sqlstate_error_type("é"), "sqlstate_other");
    }
}
