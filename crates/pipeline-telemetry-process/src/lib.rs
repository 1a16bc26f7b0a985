//! Subprocess stages for pipeline-telemetry: a `std::process::Command` or
//! `tokio::process::Command` (`dbt run`, a shell script, any executable) run
//! as a pipeline stage that Datadog can see into.
//!
//! - [`ProcessStage`] runs the command as one call of a
//!   [`Stage`](pipeline_telemetry::Stage): the stage's span and metrics,
//!   a `process.run` span with the process's semantic-convention
//!   attributes (arguments with secrets redacted by a [`Redaction`] rule,
//!   pid, exit code), `error.type` `exit_<code>` / `signal_<n>` /
//!   `timeout` / `not_found`, and a bounded, valid-UTF-8 tail of stderr.
//! - The child gets the run's context in `TRACEPARENT`, `TRACESTATE`,
//!   `BAGGAGE` ([`EnvCarrier`], OpenTelemetry's environment-variable
//!   carrier) and `PIPELINE_ID`, so a child that is itself instrumented
//!   continues the run's trace.
//! - The child runs in a process group of its own; a timeout, a dropped
//!   async stage or the end of the stage terminates the whole group
//!   (SIGTERM, then SIGKILL after a grace period).
//! - dbt commands: `target/run_results.json` becomes one span per model
//!   and test with its real times, `pipeline.records` counts rows affected,
//!   and the error names the failed nodes ([`DbtReport`]).
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//! use pipeline_telemetry::{PipelineRun, Stage};
//! use pipeline_telemetry_process::ProcessStage;
//!
//! static EXPORT: Stage = Stage::new("export");
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let _telemetry = pipeline_telemetry::init()?;
//! let run = PipelineRun::start("nightly", "42");
//! let mut cmd = Command::new("./export.sh");
//! cmd.arg("--token=abc"); // shown as --token=REDACTED on the span
//! let export = ProcessStage::new(&EXPORT, cmd)
//!     .with_command_args(true) // off by default: the executable's name only
//!     .with_timeout(Duration::from_secs(60));
//! // A stage of the run current where it is awaited.
//! run.scope(export.run_async()).await?;
//! run.finish();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod carrier;
mod command;
mod dbt;
mod error;
mod error_type;
mod exec;
mod group;
mod output;
mod prepare;
mod pump;
mod redact;
mod redact_values;
mod spans;
mod watchdog;

pub use carrier::{EnvCarrier, CONTEXT_VARS, PIPELINE_ID_VAR};
pub use command::{ProcessOutput, ProcessStage, DEFAULT_GRACE, DEFAULT_STDERR_TAIL};
pub use dbt::{DbtNode, DbtReport, MAX_NODE_SPANS};
pub use error::ProcessError;
pub use output::MAX_FORWARDED_LINE;
/// Retries of a stage: re-exported from `pipeline_telemetry`, where they
/// live so that `#[instrument_stage(retry(...))]` can use them.
pub use pipeline_telemetry::{Attempt, AttemptTimeout, Backoff, Jitter, RetryPolicy, ATTEMPT_SPAN};
pub use redact::{Redaction, REDACTED, SECRET_SHORT_FLAGS};
pub use spans::{PROCESS_SPAN, STDERR_TAIL_ATTR};
