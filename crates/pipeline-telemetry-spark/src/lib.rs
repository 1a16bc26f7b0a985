//! Spark for pipeline-telemetry: job durations, active executors and Spark
//! jobs as spans, read from Spark's monitoring REST API while a spark stage
//! runs.
//!
//! Datadog's Spark integration has no job-duration metric and counts the
//! driver among the executors; this crate produces the monitoring guide's
//! own names (from the catalogue, as the dashboard reads them):
//!
//! | metric | type | tags | when |
//! |---|---|---|---|
//! | `spark.job.duration` | distribution, seconds | `app_name`, `job` (job group or description, bounded), `status:succeeded\|failed` | once per finished job: completion − submission |
//! | `spark.executors.active` | gauge | `app_name` | every poll: active executors, the driver excluded (0 in local mode) |
//!
//! and each finished job as a `spark.job` span with its real start and end
//! times, child of the span current when the monitor started (the spark
//! stage's span), with job id, status, task counts and failure reason.
//!
//! The tags are bounded for the life of the process, across any number of
//! monitors and applications: `app_name` is the application's name as
//! Datadog's Spark integration tags it (`none` without one, never the
//! application id), at most [`MAX_APP_NAMES`] distinct values per process
//! (then `other`); `job` at most
//! [`with_max_job_names`](SparkMonitor::with_max_job_names) (100) distinct
//! values per process (then `other`).
//!
//! The monitor polls on a thread of its own (default every 5 s), never
//! blocks or fails the stage, reports an unreachable API once (a warning and
//! `pipeline_telemetry.spark.poll_errors`), keeps polling with backoff, and
//! does a final read when stopped: from the application's event log
//! ([`SparkMonitor::with_event_log_dir`]) when the application ended before
//! it and took its UI (and REST API) with it, as a `spark-submit` does.
//!
//! ```no_run
//! use pipeline_telemetry::Stage;
//! use pipeline_telemetry_spark::SparkMonitor;
//!
//! static SPARK: Stage = Stage::new("spark");
//!
//! fn run_spark_job() -> std::io::Result<()> {
//!     // spark-submit --conf spark.eventLog.enabled=true \
//!     //   --conf spark.eventLog.dir=file:///tmp/spark-events \
//!     //   --conf spark.eventLog.compress=false ...
//!     // (Spark 4 compresses event logs by default; rolling ones are read.)
//!     Ok(())
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = pipeline_telemetry::init()?;
//!     SPARK.run(|| {
//!         SparkMonitor::new("http://127.0.0.1:4040")
//!             .with_event_log_dir("/tmp/spark-events")
//!             .watch(run_spark_job)
//!     })?;
//!     Ok(())
//! }
//! ```
#![deny(missing_docs)]

pub mod api;
mod client;
mod collector;
mod emit;
mod error;
mod event_log;
mod guard;
mod monitor;
pub mod spans;
#[cfg(test)]
mod start_tests;
mod tracker;

pub use emit::{
    JobNaming, MAX_APP_NAMES, MAX_JOB_NAME_LEN, OTHER_APP, OTHER_JOB, POLL_ERRORS_METRIC,
    UNNAMED_APP, UNNAMED_JOB,
};
pub use error::{PollError, StartError, StopError};
pub use guard::{MonitorStats, SparkMonitorGuard};
pub use monitor::{
    SparkMonitor, DEFAULT_INTERVAL, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_JOB_NAMES,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_STARTUP_GRACE,
};
