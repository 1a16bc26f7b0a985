//! Datadog observability for Rust data pipelines.
//!
//! Call [`init`] once, start a [`PipelineRun`] per run and run its code
//! inside it ([`PipelineRun::scope`] for async code, [`PipelineRun::in_scope`]
//! for sync code), and put [`#[instrument_stage]`](instrument_stage) on each
//! stage function (or wrap a closure or future in a [`Stage`]): the metrics
//! of the monitoring guide (`pipeline.runs`, `prefect.flow.duration`,
//! `pipeline.errors`, `pipeline.stage.duration`, `pipeline.records`) go to
//! the Datadog Agent over DogStatsD, and every stage opens a `tracing` span,
//! child of its run's span.
//!
//! A stage can be retried with a [`RetryPolicy`] (closures and futures) or
//! `#[instrument_stage(retry(attempts = 3, ...))]`: one attempt span each,
//! one stage duration over all attempts, `pipeline.stage.retries` per retry.
//!
//! The current run follows the task (or the closure) that entered it, never
//! the thread: a stage polled in another task does not see it.
//! [`#[instrument_run]`](instrument_run) makes a whole function one run in a
//! line:
//!
//! ```
//! use pipeline_telemetry::{instrument_run, instrument_stage};
//!
//! #[instrument_stage]
//! async fn load(n: u32) -> Result<u32, std::io::Error> {
//!     Ok(n)
//! }
//!
//! #[instrument_run(pipeline = "daily_etl", pipeline_id = day)]
//! async fn daily(day: u32) -> Result<u32, std::io::Error> {
//!     load(day).await // tagged pipeline:daily_etl, child of the run's span
//! }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(daily(1)).unwrap();
//! ```
//!
//! ```no_run
//! use pipeline_telemetry::{instrument_stage, PipelineRun};
//!
//! #[instrument_stage]
//! fn extract() -> Result<Vec<u32>, std::io::Error> {
//!     let rows = vec![1, 2, 3];
//!     pipeline_telemetry::record_records(rows.len() as u64);
//!     Ok(rows)
//! }
//!
//! #[instrument_stage(stage = "dbt")]
//! async fn transform(rows: Vec<u32>) -> Result<usize, std::io::Error> {
//!     Ok(rows.len())
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = pipeline_telemetry::init()?;
//!     let run = PipelineRun::start("daily_etl", "42");
//!     run.scope(async {
//!         let rows = extract()?;
//!         transform(rows).await
//!     })
//!     .await?;
//!     run.finish();
//!     Ok(())
//! }
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `traces` | yes | traces and logs: spans to the Agent's own trace intake (port 8126 or its Unix socket, when an Agent address is set; the console otherwise), log lines correlated with traces, the `otel` module; its exporter uses std only |
//! | `otlp` | no | OTLP over gRPC (port 4317) as well, for an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`): `opentelemetry-otlp`, `tonic` and a Tokio runtime on the export thread |
//! | `otlp-http` | no | OTLP over HTTP/protobuf (port 4318) as well: `opentelemetry-otlp` and the `reqwest` HTTP client |
//! | `testing` | no | the monitor query parser and evaluator: `testing::monitors`, `Capture::take_points` |
//!
//! `scripts/build-cost.sh` in the repository prints what each feature adds
//! to a clean build (packages and seconds).
//!
//! An OTLP transport the build lacks (asked for with an
//! `OTEL_EXPORTER_OTLP_*` variable, `PIPELINE_TELEMETRY_TRACES=otlp`,
//! `with_endpoint` or `with_protocol`; gRPC unless the protocol or an
//! endpoint's port says HTTP/protobuf) makes [`try_init`] fail with a
//! configuration error that names the feature; [`init`] reports that line
//! on stderr and runs: spans go over the other OTLP transport to the
//! Agent's port for it when the port was ours to choose (from
//! `DD_AGENT_HOST`) and that transport is built, and are not exported
//! otherwise (a transport never goes to a port chosen for the other).
//! Without default features, only metrics remain (DogStatsD).
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backoff;
mod clock;
mod context;
mod error;
mod error_type;
mod future;
mod guard;
mod init;
mod intern;
mod nesting;
mod outcome;
mod records;
mod retry;
mod retry_loop;
mod run;
#[cfg(feature = "traces")]
mod run_env;
mod run_failures;
mod run_join;
mod run_state;
mod spans;
mod stage;
mod stage_api;
mod stage_cache;
mod stage_typed;
mod stray;
pub mod testing;
mod timer;

pub use backoff::{Backoff, Jitter};
pub use context::RunGuard;
pub use error::{InitError, ShutdownError};
pub use error_type::error_type_name;
#[allow(deprecated)]
pub use future::InRun;
pub use future::{Scoped, StageFuture};
pub use guard::TelemetryGuard;
pub use init::{init, try_init, Fallback, TelemetryBuilder, LOGS_DROPPED_METRIC};
pub use outcome::{ErrorView, Outcome};
pub use pipeline_telemetry_catalogue as catalogue;
pub use pipeline_telemetry_dogstatsd::Target as MetricsTarget;
/// Makes a function one pipeline run. Checked here through the in-memory
/// [`testing::Capture`]: each call is one run (`prefect.flow.duration`
/// tagged `flow` and `status:ok|failed`), and the stages it calls carry its
/// `pipeline` tag:
///
/// ```
/// use pipeline_telemetry::testing::{values, Capture};
/// use pipeline_telemetry::{instrument_run, instrument_stage};
///
/// #[instrument_stage]
/// async fn load(rows: u32) -> Result<u32, std::io::Error> {
///     if rows == 0 {
///         return Err(std::io::Error::other("nothing to load"));
///     }
///     Ok(rows)
/// }
///
/// #[instrument_run(pipeline = "daily_etl", pipeline_id = day)]
/// async fn daily(day: u32) -> Result<u32, std::io::Error> {
///     load(day).await
/// }
///
/// let capture = Capture::start();
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// assert!(rt.block_on(daily(5)).is_ok());
/// assert!(rt.block_on(daily(0)).is_err());
/// let m = capture.finish();
/// let runs = |status| values(&m, "prefect.flow.duration", &[("flow", "daily_etl"), ("status", status)]);
/// assert_eq!((runs("ok").len(), runs("failed").len()), (1, 1));
/// assert_eq!(values(&m, "pipeline.stage.duration", &[("pipeline", "daily_etl"), ("stage", "load")]).len(), 2);
/// ```
pub use pipeline_telemetry_macros::instrument_run;
/// Times a function as a pipeline stage. Checked here through the in-memory
/// [`testing::Capture`]: one `pipeline.stage.duration` per call, tagged
/// `stage` (the function's name unless given) and `status`, and one
/// `pipeline.errors` per `Err`:
///
/// ```
/// use pipeline_telemetry::testing::{sum, values, Capture};
/// use pipeline_telemetry::{instrument_stage, PipelineRun};
///
/// #[instrument_stage]
/// fn extract(n: u32) -> Result<Vec<u32>, std::io::Error> {
///     Ok((0..n).collect())
/// }
///
/// #[instrument_stage(stage = "warehouse_load")]
/// fn load(rows: &[u32]) -> Result<(), std::io::Error> {
///     if rows.is_empty() {
///         return Err(std::io::Error::other("nothing to load"));
///     }
///     Ok(())
/// }
///
/// let capture = Capture::start();
/// let run = PipelineRun::start("nightly", "1");
/// run.in_scope(|| {
///     let rows = extract(3).unwrap();
///     load(&rows).unwrap();
///     assert!(load(&[]).is_err());
/// });
/// run.finish();
/// let m = capture.finish();
/// let stage = |stage, status| {
///     values(&m, "pipeline.stage.duration", &[("pipeline", "nightly"), ("stage", stage), ("status", status)]).len()
/// };
/// assert_eq!(stage("extract", "ok"), 1);
/// assert_eq!((stage("warehouse_load", "ok"), stage("warehouse_load", "error")), (1, 1));
/// assert_eq!(sum(&m, "pipeline.errors", &[("stage", "warehouse_load")]), 1.0);
/// ```
pub use pipeline_telemetry_macros::instrument_stage;
#[cfg(feature = "traces")]
pub use pipeline_telemetry_otel as otel;
pub use records::record_records;
pub use retry::{Attempt, AttemptTimeout, RetryPolicy, ATTEMPT_SPAN};
pub use run::PipelineRun;
pub use run_state::{RUN_CANCELLED, RUN_FAILED, RUN_SERVICE_CHECK, RUN_UNFINISHED};
pub use spans::{RUN_SPAN, STAGE_SPAN};
pub use stage_api::Stage;
pub use stage_typed::ErrorType;

/// What `#[instrument_stage]` expands to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::backoff::{Backoff, Jitter};
    pub use crate::future::{outcome_fn, StageFuture};
    pub use crate::outcome::{
        Outcome, Probe, ProbeAny, ProbeDebug, ProbeDisplay, ProbeError, ProbeOther, ProbeTyped,
    };
    pub use crate::retry::{Attempt, RetryArgument, RetryPolicy};
    pub use crate::retry_loop::{attempts_async, attempts_sync};
    pub use crate::run::{end_run, fresh_pipeline_id};
    pub use crate::stage::{StageCallsite, StageGuard};
    pub use tracing::Span;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
