//! Datadog dashboards and monitors as code, generated from the
//! pipeline-telemetry metric catalogue, and a local evaluator of
//! metric-alert monitors.
//!
//! - [`dashboard::dashboard`]: the pipeline dashboard (dashboards API JSON),
//!   also as Terraform with what enables its percentiles ([`dashboard_tf`]);
//! - [`logs`]: the Datadog log pipeline that makes the guide's log searches
//!   work as written, and those searches;
//! - [`guide::guide_monitors`]: the monitoring guide's three monitors,
//!   rendered for the monitors API ([`render`]) or Terraform ([`terraform`]);
//! - [`parse`]: the metric-alert query grammar;
//! - [`Monitor::evaluate`] and [`MonitorQuery::evaluate`]: what a monitor
//!   would say over captured or synthetic [`Point`]s, following Datadog's
//!   semantics for counts, gauges and distributions (see [`eval`]);
//! - [`MetricQuery::timeseries`]: what a dashboard graph of a query shows
//!   over the same points;
//! - [`check`]: every query only uses metrics and tag keys of the catalogue.
//!
//! Testing an alert before it reaches Datadog:
//!
//! ```
//! use pipeline_telemetry_monitors::guide::{pipeline_failures, Routing};
//! use pipeline_telemetry_monitors::{MonitorState, Point};
//!
//! let monitor = pipeline_failures(&Routing::default());
//! let t0 = 1_700_000_000;
//! let failed = Point::count(t0, "pipeline.errors", 1.0)
//!     .with_tag("pipeline", "etl")
//!     .with_tag("stage", "spark")
//!     .with_tag("error_type", "Timeout");
//! assert_eq!(monitor.evaluate(&[failed.clone()], t0 + 60), MonitorState::Alert);
//! // Six minutes later the Agent is still flushing zeros: recovered.
//! assert_eq!(monitor.evaluate(&[failed], t0 + 360), MonitorState::Ok);
//! ```
#![deny(missing_docs)]

pub mod artifacts;
pub mod capture;
pub mod check;
pub mod dashboard;
pub mod dashboard_tf;
pub mod eval;
pub mod guide;
pub mod logs;
pub mod monitor;
pub mod parse;
pub mod point;
pub mod query;
pub mod render;
pub mod rollup;
pub mod terraform;
pub mod timeseries;

pub use eval::{EvalOptions, GroupEvaluation, MonitorState};
pub use monitor::Monitor;
pub use parse::ParseQueryError;
pub use point::{points_from_parsed, Point, PointError, PointKind};
pub use query::{MetricQuery, MonitorQuery};
pub use rollup::AgentModel;
pub use timeseries::GroupSeries;

/// Parses `query` and evaluates it at `now` (unix seconds) over `points`.
///
/// ```
/// use pipeline_telemetry_monitors::{evaluate, MonitorState, Point};
/// let points = [Point::distribution(1_000, "pipeline.stage.duration", 3.0).with_tag("stage", "spark")];
/// let state = evaluate("avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5", &points, 1_100).unwrap();
/// assert_eq!(state, MonitorState::Ok);
/// ```
///
/// # Errors
///
/// The [`ParseQueryError`] of [`parse::parse_monitor_query`] when `query`
/// does not parse; evaluation itself cannot fail.
pub fn evaluate(query: &str, points: &[Point], now: u64) -> Result<MonitorState, ParseQueryError> {
    Ok(parse::parse_monitor_query(query)?.evaluate(points, now))
}
