//! Subprocess stages for pipeline-telemetry: a `std::process::Command` or
//! `tokio::process::Command` (`dbt run`, a shell script, any executable) run
//! as a pipeline stage that Datadog can see into.
//!
//! - [`ProcessStage`] runs the command as one call of a
//!   [`Stage`](pipeline_telemetry::Stage): the stage's span and metrics,
//!   a `process.run` span with the process's semantic-convention
//!   attributes (executable, pid, exit code; the arguments only when asked
//!   for, with secrets redacted by a [`Redaction`] rule), `error.type`
//!   `exit_<code>` / `signal_<n>` / `timeout` / `not_found`, and a
//!   bounded, valid-UTF-8 tail of stderr. It runs in the current run
//!   (`run.scope(..)`, `run.in_scope(..)`, `run.enter()`), as every
//!   `Stage` call does.
//! - The child gets the run's context in `TRACEPARENT`, `TRACESTATE`,
//!   `BAGGAGE` ([`EnvCarrier`], OpenTelemetry's environment-variable
//!   carrier) and `PIPELINE_ID`, so a child that is itself instrumented
//!   continues the run's trace.
//! - The child runs in a process group of its own; a timeout, a dropped
//!   async stage or the end of the stage terminates the whole group
//!   (SIGTERM, then SIGKILL after a grace period), and so does the death
//!   of this process (see below).
//! - The async path blocks no runtime thread: waiting for the group and
//!   reading dbt's results happen on tokio's blocking pool.
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
//!
//! # No child outlives its pipeline
//!
//! The child's group of its own keeps Ctrl-C in a terminal (SIGINT to the
//! terminal's foreground group) from reaching it behind the stage's back,
//! but then nothing in the kernel ends it when this process dies. Each
//! stage therefore starts a watchdog: a small `/bin/sh -c <script>`
//! process (with `pipeline-telemetry-watchdog` as its `$0`, visible in
//! `ps -f`), in a group of its own, that
//! holds the read end of a pipe whose write end only this process holds.
//! The child writes its group id into that pipe between `fork` and `exec`;
//! at the stage's normal end this process writes `done` and the watchdog
//! exits. When this process dies in any way (SIGINT or SIGTERM with their
//! default action, SIGKILL, the OOM killer, an abort), the kernel closes
//! the pipe and the watchdog sends SIGTERM to the child's group, then
//! SIGKILL after the stage's grace period (whole seconds, at most an
//! hour): the child and its own children (in its group) end within a few
//! seconds. In addition, the direct child of the blocking
//! [`ProcessStage::run`] gets `PR_SET_PDEATHSIG` (SIGKILL), with the check
//! for a parent that died before it was set. It is not set on the async
//! path: Linux sends it when the forking *thread* ends, and tokio forks on
//! a worker thread that may end while the child runs.
//!
//! No signal handler is installed: what SIGINT and SIGTERM do is the
//! application's decision. An application that handles them stays alive,
//! ends its stages as it chooses (dropping a `run_async` future ends its
//! group; [`interrupt_children`] and [`terminate_children`] pass the signal
//! on to every running stage's group), and when it exits the watchdogs end
//! whatever is left.
//!
//! Limits: a process that leaves the group (`setsid`, a daemon) is out of
//! reach, as it chose to be. Without `/bin/sh` (a distroless image) no
//! watchdog runs and a warning is logged once; only the blocking path's
//! direct child is then covered. Code that `fork`s this process without
//! `exec` holds the pipe open in the copy, delaying the watchdog until the
//! copy exits.
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
mod registry;
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
pub use registry::{interrupt_children, terminate_children};
pub use spans::{PROCESS_SPAN, STDERR_TAIL_ATTR};
