//! A Datadog metric monitor: query, thresholds, message and options.

use crate::eval::{EvalOptions, GroupEvaluation, MonitorState};
use crate::point::Point;
use crate::query::MonitorQuery;
use crate::rollup::AgentModel;

/// A metric monitor as the monitors API and Terraform describe it.
///
/// ```
/// use pipeline_telemetry_monitors::{parse::parse_monitor_query, Monitor, MonitorState, Point};
/// let query = parse_monitor_query("sum(last_5m):sum:pipeline.errors{*} > 0").unwrap();
/// let monitor = Monitor::new("pipeline_failures", "Pipeline failures", query);
/// let points = [Point::count(1_000, "pipeline.errors", 1.0).with_tag("stage", "spark")];
/// let state = monitor.evaluate(&points, 1_060);
/// assert_eq!(state, MonitorState::Alert);
/// assert!(monitor.notifies(state));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Monitor {
    /// A stable identifier (the Terraform resource name).
    pub key: String,
    /// The monitor's name in Datadog.
    pub name: String,
    /// The query; its threshold is the critical threshold.
    pub query: MonitorQuery,
    /// The notification message (Datadog template syntax, `@` handles).
    pub message: String,
    /// The monitor's own tags.
    pub tags: Vec<String>,
    /// The warning threshold, if any.
    pub warning: Option<f64>,
    /// Priority from 1 (highest) to 5.
    pub priority: Option<u8>,
    /// Whether to notify when data stops arriving.
    pub notify_no_data: bool,
    /// Minutes without data before a NO DATA notification.
    pub no_data_timeframe: Option<u32>,
    /// Whether evaluation waits for a full window of data.
    pub require_full_window: bool,
    /// Minutes between re-notifications while the monitor stays triggered.
    pub renotify_interval: Option<u32>,
}

impl Monitor {
    /// A monitor with an empty message, no tags and Datadog's defaults.
    pub fn new(key: impl Into<String>, name: impl Into<String>, query: MonitorQuery) -> Self {
        Monitor {
            key: key.into(),
            name: name.into(),
            query,
            message: String::new(),
            tags: Vec::new(),
            warning: None,
            priority: None,
            notify_no_data: false,
            no_data_timeframe: None,
            require_full_window: false,
            renotify_interval: None,
        }
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets the warning threshold.
    pub fn with_warning(mut self, warning: f64) -> Self {
        self.warning = Some(warning);
        self
    }

    /// Sets the priority (1 to 5).
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority.clamp(1, 5));
        self
    }

    /// Notifies after `minutes` without data.
    pub fn with_no_data(mut self, minutes: u32) -> Self {
        self.notify_no_data = true;
        self.no_data_timeframe = Some(minutes);
        self
    }

    /// Re-notifies every `minutes` while triggered.
    pub fn with_renotify_interval(mut self, minutes: u32) -> Self {
        self.renotify_interval = Some(minutes);
        self
    }

    /// The critical threshold (the query's).
    pub fn critical(&self) -> f64 {
        self.query.threshold
    }

    /// Evaluates the monitor at `now` (unix seconds) over `points`, with
    /// the default Agent model, and returns the most severe group state.
    pub fn evaluate(&self, points: &[Point], now: u64) -> MonitorState {
        MonitorState::worst(self.evaluate_groups(points, now).iter().map(|g| g.state))
    }

    /// Evaluates each group at `now` with the default Agent model.
    pub fn evaluate_groups(&self, points: &[Point], now: u64) -> Vec<GroupEvaluation> {
        self.evaluate_with(points, now, AgentModel::default())
    }

    /// Evaluates each group at `now` with a given Agent model.
    pub fn evaluate_with(
        &self,
        points: &[Point],
        now: u64,
        agent: AgentModel,
    ) -> Vec<GroupEvaluation> {
        let options = EvalOptions::default()
            .with_warning(self.warning)
            .with_agent(agent);
        self.query.evaluate_groups(points, now, &options)
    }

    /// Whether Datadog would notify in `state`: ALERT and WARN always, NO
    /// DATA only with `notify_no_data`.
    pub fn notifies(&self, state: MonitorState) -> bool {
        match state {
            MonitorState::Alert | MonitorState::Warn => true,
            MonitorState::NoData => self.notify_no_data,
            MonitorState::Ok => false,
        }
    }
}
