//! The three monitors of the monitoring guide, built from the catalogue.
//!
//! Two of the guide's queries are shipped as Datadog must read them to do
//! what the guide means:
//!
//! ```
//! use pipeline_telemetry_monitors::guide::{guide_monitors, Routing};
//! let queries: Vec<String> = guide_monitors(&Routing::default()).iter().map(|m| m.query.to_string()).collect();
//! assert_eq!(queries, [
//!     "sum(last_5m):sum:pipeline.errors{*}.as_count() > 0",
//!     "avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5",
//!     "sum(last_10m):sum:pipeline.runs{*}.as_count() < 1",
//! ]);
//! ```
//!
//! - "Pipeline failures" adds `.as_count()`: without it Datadog reads the
//!   DogStatsD count as a per-second rate, so `{{value}}` says `0.1` for
//!   one failed stage.
//! - "No pipelines running" is not the guide's
//!   `change(last_10m):avg:pipeline.runs{*} < 1` ([`as_written_no_pipelines_running`]):
//!   the change of a steady run rate is 0, which is below 1, so that query
//!   pages on a healthy pipeline. The shipped query alerts when no run
//!   started in the last ten minutes, and notifies when the metric stops.

use pipeline_telemetry_catalogue::{
    tags, MetricDef, PIPELINE_ERRORS, PIPELINE_RUNS, PIPELINE_STAGE_DURATION,
};

use crate::monitor::Monitor;
use crate::query::{
    ChangeKind, Comparator, Evaluation, MetricQuery, MonitorQuery, SpaceAggregation,
    TimeAggregation, TypeModifier, Window,
};

/// The tag every generated monitor carries, to find them in Datadog.
pub const MANAGED_BY_TAG: &str = "managed-by:pipeline-telemetry";

/// The stage the duration-spike monitor watches.
pub const SPIKE_STAGE: &str = "spark";

/// Where notifications go: a Slack channel and an e-mail address.
///
/// The defaults are placeholders to replace with your own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Routing {
    /// Slack channel, without `@slack-`.
    pub slack_channel: String,
    /// E-mail address, without `@`.
    pub email: String,
}

impl Default for Routing {
    fn default() -> Self {
        Routing::new("data-pipeline-alerts", "data-oncall@example.com")
    }
}

impl Routing {
    /// Routing to a Slack channel and an e-mail address.
    pub fn new(slack_channel: &str, email: &str) -> Self {
        let slack_channel = slack_channel
            .trim_start_matches('@')
            .trim_start_matches("slack-");
        Routing {
            slack_channel: slack_channel.to_owned(),
            email: email.trim_start_matches('@').to_owned(),
        }
    }

    /// `@slack-<channel> @<email>`.
    pub fn handles(&self) -> String {
        format!("@slack-{} @{}", self.slack_channel, self.email)
    }
}

fn threshold(aggregation: TimeAggregation, minutes: u64) -> Evaluation {
    Evaluation::Threshold {
        aggregation,
        window: Window::minutes(minutes),
    }
}

fn layer_tag(def: &MetricDef) -> String {
    format!("layer:{}", def.layer)
}

/// `sum(last_5m):sum:pipeline.errors{*}.as_count() > 0`: any failed stage
/// call in the last five minutes; `{{value}}` is the number of failures.
pub fn pipeline_failures(routing: &Routing) -> Monitor {
    let errors = PIPELINE_ERRORS.name;
    let query = MonitorQuery::new(
        threshold(TimeAggregation::Sum, 5),
        MetricQuery::new(SpaceAggregation::Sum, errors).with_modifier(TypeModifier::AsCount),
        Comparator::Above,
        0.0,
    );
    let message = format!(
        "{{{{#is_alert}}}}{{{{value}}}} pipeline stage call(s) failed in the last 5 minutes (`{errors}`).{{{{/is_alert}}}}\n\
         {{{{#is_recovery}}}}No pipeline stage has failed in the last 5 minutes.{{{{/is_recovery}}}}\n\n\
         Which stage: graph `{errors}` by `{stage}` and `{error_type}`. Why: search the logs for \
         `{failed_logs}`, then open the run's trace from a line, or search `{pipeline_id}:<id>`.\n\n{}",
        routing.handles(),
        failed_logs = crate::logs::FAILED_LOGS_QUERY,
        stage = tags::STAGE,
        error_type = tags::ERROR_TYPE,
        pipeline_id = tags::PIPELINE_ID,
    );
    Monitor::new("pipeline_failures", "Pipeline failures", query)
        .with_message(message)
        .with_tag(MANAGED_BY_TAG)
        .with_tag(layer_tag(&PIPELINE_ERRORS))
        .with_priority(2)
}

/// `avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5`: the spark
/// stage averaged more than 5 s over ten minutes (warning above 4 s).
pub fn stage_duration_spike(routing: &Routing) -> Monitor {
    let duration = PIPELINE_STAGE_DURATION.name;
    let query = MonitorQuery::new(
        threshold(TimeAggregation::Avg, 10),
        MetricQuery::new(SpaceAggregation::Avg, duration).filter(tags::STAGE, SPIKE_STAGE),
        Comparator::Above,
        5.0,
    );
    let message = format!(
        "{{{{#is_alert}}}}The {SPIKE_STAGE} stage averaged {{{{value}}}} s over the last 10 minutes \
         (critical above {{{{threshold}}}} s).{{{{/is_alert}}}}\n\
         {{{{#is_warning}}}}The {SPIKE_STAGE} stage averaged {{{{value}}}} s over the last 10 minutes \
         (warning above {{{{warn_threshold}}}} s).{{{{/is_warning}}}}\n\
         {{{{#is_recovery}}}}The {SPIKE_STAGE} stage is back under {{{{threshold}}}} s on average.{{{{/is_recovery}}}}\n\n\
         Compare `p95:{duration}{{{stage}:{SPIKE_STAGE}}}` with `{executors}` and `{queue}` on the pipeline \
         dashboard, and open the slow stage's spans.\n\n{}",
        routing.handles(),
        stage = tags::STAGE,
        executors = pipeline_telemetry_catalogue::SPARK_EXECUTORS_ACTIVE.name,
        queue = pipeline_telemetry_catalogue::RABBITMQ_QUEUE_LENGTH.name,
    );
    Monitor::new("stage_duration_spike", "Stage duration spike", query)
        .with_message(message)
        .with_tag(MANAGED_BY_TAG)
        .with_tag(layer_tag(&PIPELINE_STAGE_DURATION))
        .with_warning(4.0)
        .with_priority(3)
}

/// `sum(last_10m):sum:pipeline.runs{*}.as_count() < 1`: no run started in
/// the last ten minutes; notifies NO DATA after 20 minutes without any
/// `pipeline.runs` data (the Agent stops the series about 5 minutes after
/// the last run).
pub fn no_pipelines_running(routing: &Routing) -> Monitor {
    let runs = PIPELINE_RUNS.name;
    let query = MonitorQuery::new(
        threshold(TimeAggregation::Sum, 10),
        MetricQuery::new(SpaceAggregation::Sum, runs).with_modifier(TypeModifier::AsCount),
        Comparator::Below,
        1.0,
    );
    let message = format!(
        "{{{{#is_alert}}}}No pipeline run started in the last 10 minutes (`{runs}` counted {{{{value}}}}).{{{{/is_alert}}}}\n\
         {{{{#is_no_data}}}}No `{runs}` data for 20 minutes: no pipeline has started, or the services cannot \
         reach the Datadog Agent.{{{{/is_no_data}}}}\n\
         {{{{#is_recovery}}}}Pipelines are starting again.{{{{/is_recovery}}}}\n\n\
         Check the orchestrator and the `{runs}` graph on the pipeline dashboard.\n\n{}",
        routing.handles(),
    );
    Monitor::new("no_pipelines_running", "No pipelines running", query)
        .with_message(message)
        .with_tag(MANAGED_BY_TAG)
        .with_tag(layer_tag(&PIPELINE_RUNS))
        .with_no_data(20)
        .with_priority(2)
}

/// The guide's literal `change(last_10m):avg:pipeline.runs{*} < 1`, kept to
/// show why it is not shipped: a steady run rate changes by 0, which is
/// below 1, so it alerts on a healthy pipeline.
///
/// ```
/// use pipeline_telemetry_monitors::guide::{as_written_no_pipelines_running, Routing};
/// let m = as_written_no_pipelines_running(&Routing::default());
/// assert_eq!(m.query.to_string(), "change(last_10m):avg:pipeline.runs{*} < 1");
/// ```
pub fn as_written_no_pipelines_running(routing: &Routing) -> Monitor {
    let window = Window::minutes(10);
    let query = MonitorQuery::new(
        Evaluation::Change {
            kind: ChangeKind::Absolute,
            aggregation: TimeAggregation::Avg,
            window,
            shift: window,
            shorthand: true,
        },
        MetricQuery::new(SpaceAggregation::Avg, PIPELINE_RUNS.name),
        Comparator::Below,
        1.0,
    );
    Monitor::new(
        "no_pipelines_running_as_written",
        "No pipelines running (as the guide writes it)",
        query,
    )
    .with_message(routing.handles())
    .with_no_data(20)
}

/// The guide's three monitors, in the guide's order.
pub fn guide_monitors(routing: &Routing) -> Vec<Monitor> {
    vec![
        pipeline_failures(routing),
        stage_duration_spike(routing),
        no_pipelines_running(routing),
    ]
}
