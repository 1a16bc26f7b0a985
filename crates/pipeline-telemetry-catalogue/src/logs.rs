//! The keys and values of the JSON log lines, as Datadog reads them.
//!
//! The JSON log layer writes these keys, and the generated Datadog log
//! pipeline (`logs/pipeline.json`, `logs/pipeline.tf`) and the dashboard's
//! log stream read them, so the three can never disagree.
//!
//! Datadog's JSON preprocessing takes a line's service from `service`, its
//! source from `ddsource`, its status from `status`, its date from
//! `timestamp` and its trace from `dd.trace_id`, without any configuration
//! (<https://docs.datadoghq.com/logs/log_configuration/pipelines/#preprocessing>).
//!
//! ```
//! use pipeline_telemetry_catalogue::logs;
//! assert_eq!(logs::SOURCE, "pipeline");
//! assert_eq!(logs::SOURCE_KEY, "ddsource");
//! ```

/// The log's source: `source:pipeline` in searches.
pub const SOURCE: &str = "pipeline";

/// The key Datadog's preprocessing reads the source from.
pub const SOURCE_KEY: &str = "ddsource";

/// The key Datadog's preprocessing reads the service from.
pub const SERVICE_KEY: &str = "service";

/// The key Datadog's preprocessing reads the status from.
pub const STATUS_KEY: &str = "status";

/// The event's level, always written beside `status`.
pub const LEVEL_KEY: &str = "level";

/// The attribute of a failed stage's line: `outcome: "failed"`.
pub const OUTCOME_KEY: &str = "outcome";

/// The value of [`OUTCOME_KEY`] on a failed stage's line.
pub const OUTCOME_FAILED: &str = "failed";

/// The status of a failed stage's line. Datadog maps a status starting
/// with `f` to `emergency`, so a failure is a standard `error`.
pub const FAILED_STATUS: &str = "error";

/// Correlation keys Datadog's tracers write too.
pub mod dd {
    /// The service (as tracers write it).
    pub const SERVICE: &str = "dd.service";
    /// The environment.
    pub const ENV: &str = "dd.env";
    /// The version.
    pub const VERSION: &str = "dd.version";
    /// The trace id: 32 hex digits for a 128-bit id, else decimal (ddtrace's
    /// `format_trace_id`).
    pub const TRACE_ID: &str = "dd.trace_id";
    /// The span id, decimal.
    pub const SPAN_ID: &str = "dd.span_id";
}

/// The attributes that Datadog's log pipeline turns into tags, so that
/// `pipeline_id:42` (no `@`) finds a run's lines: `(attribute, tag)`.
pub const ATTRIBUTES_AS_TAGS: &[(&str, &str)] = &[
    (crate::tags::PIPELINE_ID, crate::tags::PIPELINE_ID),
    (crate::tags::PIPELINE, crate::tags::PIPELINE),
    (crate::tags::STAGE, crate::tags::STAGE),
    (OUTCOME_KEY, OUTCOME_KEY),
    (dd::ENV, crate::tags::ENV),
    (dd::VERSION, crate::tags::VERSION),
];
