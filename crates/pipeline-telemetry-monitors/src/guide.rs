//! The three monitors of the monitoring guide, built from the catalogue.
//!
//! Their queries render exactly as the guide writes them:
//!
//! ```
//! use pipeline_telemetry_monitors::guide::{guide_monitors, Routing};
//! let queries: Vec<String> = guide_monitors(&Routing::default()).iter().map(|m| m.query.to_string()).collect();
//! assert_eq!(queries, [
//!     "sum(last_5m):sum:pipeline.errors{*} > 0",
//!     "avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5",
//!     "change(last_10m):avg:pipeline.runs{*} < 1",
//! ]);
//! ```

use pipeline_telemetry_catalogue::{
    tags, MetricDef, PIPELINE_ERRORS, PIPELINE_RUNS, PIPELINE_STAGE_DURATION,
};

use crate::monitor::Monitor;
use crate::query::{
    ChangeKind, Comparator, Evaluation, MetricQuery, MonitorQuery, SpaceAggregation,
    TimeAggregation, Window,
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

/// `sum(last_5m):sum:pipeline.errors{*} > 0`: any failed stage or run in
/// the last five minutes.
pub fn pipeline_failures(routing: &Routing) -> Monitor {
    let errors = PIPELINE_ERRORS.name;
    let query = MonitorQuery::new(
        threshold(TimeAggregation::Sum, 5),
        MetricQuery::new(SpaceAggregation::Sum, errors),
        Comparator::Above,
        0.0,
    );
    let message = format!(
        "{{{{#is_alert}}}}Pipeline stages failed in the last 5 minutes (`{errors}` summed to {{{{value}}}}).{{{{/is_alert}}}}\n\
         {{{{#is_recovery}}}}No pipeline stage has failed in the last 5 minutes.{{{{/is_recovery}}}}\n\n\
         Which stage: graph `{errors}` by `{stage}` and `{error_type}`. Why: search the logs for \
         `status:failed source:pipeline`, then open the run's trace through its `{pipeline_id}`.\n\n{}",
        routing.handles(),
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

/// `change(last_10m):avg:pipeline.runs{*} < 1`: the run rate of the last
/// ten minutes did not grow by at least 1 compared with the ten minutes
/// before; notifies NO DATA after 20 minutes without any run.
pub fn no_pipelines_running(routing: &Routing) -> Monitor {
    let runs = PIPELINE_RUNS.name;
    let window = Window::minutes(10);
    let query = MonitorQuery::new(
        Evaluation::Change {
            kind: ChangeKind::Absolute,
            aggregation: TimeAggregation::Avg,
            window,
            shift: window,
            shorthand: true,
        },
        MetricQuery::new(SpaceAggregation::Avg, runs),
        Comparator::Below,
        1.0,
    );
    let message = format!(
        "{{{{#is_alert}}}}`{runs}` changed by {{{{value}}}} over the last 10 minutes compared with the 10 \
         minutes before: pipelines are not starting more often than before, or have stopped.{{{{/is_alert}}}}\n\
         {{{{#is_no_data}}}}No `{runs}` data for 20 minutes: no pipeline has started, or the services cannot \
         reach the Datadog Agent.{{{{/is_no_data}}}}\n\
         {{{{#is_recovery}}}}Pipeline runs are growing again.{{{{/is_recovery}}}}\n\n\
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

/// The guide's three monitors, in the guide's order.
pub fn guide_monitors(routing: &Routing) -> Vec<Monitor> {
    vec![
        pipeline_failures(routing),
        stage_duration_spike(routing),
        no_pipelines_running(routing),
    ]
}
