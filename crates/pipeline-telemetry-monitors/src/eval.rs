//! Evaluating a monitor query over points, the way Datadog does.
//!
//! 1. The Agent model ([`AgentModel`]) turns points into one value per
//!    series per flush interval (counts summed and zero-filled until
//!    expiry, gauges last value, distribution samples kept).
//! 2. Space aggregation: at each interval the series of a group are
//!    combined (`avg:`, `sum:`, ...). Distributions are aggregated over all
//!    samples of all series, each with its Agent weight (a value sent with
//!    `|@0.5` counts twice); counts are read as a per-second rate (how
//!    Datadog stores DogStatsD counts), or per interval with `.as_count()`.
//! 3. Time aggregation over the intervals in `(now - window, now]`
//!    (`avg(last_10m)`, ...). A change query first takes, interval by
//!    interval, the difference with the value `shift` earlier, then
//!    aggregates the differences.
//! 4. The value is compared with the critical threshold (ALERT), then
//!    the warning threshold (WARN); no value at all is NO DATA.

use std::collections::BTreeMap;
use std::fmt;

use crate::point::Point;
use crate::query::{
    ChangeKind, Evaluation, MetricQuery, MonitorQuery, SpaceAggregation, TimeAggregation,
    TypeModifier,
};
use crate::rollup::{series, AgentModel, Flushed, Series};

/// The result of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MonitorState {
    /// Within thresholds.
    Ok,
    /// The warning threshold is crossed.
    Warn,
    /// The critical threshold is crossed.
    Alert,
    /// No data in the evaluation window.
    NoData,
}

impl MonitorState {
    /// `OK`, `WARN`, `ALERT` or `NO DATA`, as Datadog shows them.
    pub const fn as_str(self) -> &'static str {
        match self {
            MonitorState::Ok => "OK",
            MonitorState::Warn => "WARN",
            MonitorState::Alert => "ALERT",
            MonitorState::NoData => "NO DATA",
        }
    }

    /// Rank used to combine groups: ALERT > NO DATA > WARN > OK.
    pub const fn severity(self) -> u8 {
        match self {
            MonitorState::Ok => 0,
            MonitorState::Warn => 1,
            MonitorState::NoData => 2,
            MonitorState::Alert => 3,
        }
    }

    /// The most severe state, or NO DATA when there is none.
    ///
    /// ```
    /// use pipeline_telemetry_monitors::MonitorState::*;
    /// assert_eq!(pipeline_telemetry_monitors::MonitorState::worst([Ok, Alert, Warn]), Alert);
    /// assert_eq!(pipeline_telemetry_monitors::MonitorState::worst([]), NoData);
    /// ```
    pub fn worst(states: impl IntoIterator<Item = MonitorState>) -> MonitorState {
        states
            .into_iter()
            .max_by_key(|s| s.severity())
            .unwrap_or(MonitorState::NoData)
    }
}

impl fmt::Display for MonitorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The evaluation of one group (`by {...}` values; empty for a simple alert).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GroupEvaluation {
    /// `key:value` for each grouping key (`key:N/A` when a series lacks it).
    pub group: Vec<String>,
    /// The aggregated value compared with the thresholds.
    pub value: Option<f64>,
    /// The resulting state.
    pub state: MonitorState,
}

/// Options of an evaluation besides the query.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct EvalOptions {
    /// The warning threshold, if any.
    pub warning: Option<f64>,
    /// What the Agent does to the points.
    pub agent: AgentModel,
}

impl EvalOptions {
    /// Sets the warning threshold.
    pub fn with_warning(mut self, warning: Option<f64>) -> Self {
        self.warning = warning;
        self
    }

    /// Sets the Agent model.
    pub fn with_agent(mut self, agent: AgentModel) -> Self {
        self.agent = agent;
        self
    }
}

impl MonitorQuery {
    /// Evaluates at `now` (unix seconds) with the critical threshold only,
    /// combining groups into the most severe state.
    ///
    /// ```
    /// use pipeline_telemetry_monitors::{parse::parse_monitor_query, MonitorState, Point};
    /// let q = parse_monitor_query("avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5").unwrap();
    /// let points: Vec<Point> = (0..10)
    ///     .map(|i| Point::distribution(1_000 + 60 * i, "pipeline.stage.duration", 7.0).with_tag("stage", "spark"))
    ///     .collect();
    /// assert_eq!(q.evaluate(&points, 1_600), MonitorState::Alert);
    /// assert_eq!(q.evaluate(&[], 1_600), MonitorState::NoData);
    /// ```
    pub fn evaluate(&self, points: &[Point], now: u64) -> MonitorState {
        MonitorState::worst(
            self.evaluate_groups(points, now, &EvalOptions::default())
                .iter()
                .map(|g| g.state),
        )
    }

    /// Evaluates every group at `now` (unix seconds).
    pub fn evaluate_groups(
        &self,
        points: &[Point],
        now: u64,
        options: &EvalOptions,
    ) -> Vec<GroupEvaluation> {
        let agent = &options.agent;
        let mut groups: BTreeMap<Vec<String>, Vec<Series>> = BTreeMap::new();
        if self.metric.group_by.is_empty() {
            groups.insert(Vec::new(), Vec::new());
        }
        for s in series(points, &self.metric, agent, now) {
            let key = self
                .metric
                .group_by
                .iter()
                .map(|k| format!("{k}:{}", s.tag(k).unwrap_or("N/A")))
                .collect();
            groups.entry(key).or_default().push(s);
        }
        groups
            .into_iter()
            .map(|(group, members)| {
                let value = self.value(&members, now, agent);
                let state = match value {
                    None => MonitorState::NoData,
                    Some(v) if self.comparator.holds(v, self.threshold) => MonitorState::Alert,
                    Some(v) if options.warning.is_some_and(|w| self.comparator.holds(v, w)) => {
                        MonitorState::Warn
                    }
                    Some(_) => MonitorState::Ok,
                };
                GroupEvaluation {
                    group,
                    value,
                    state,
                }
            })
            .collect()
    }

    fn value(&self, members: &[Series], now: u64, agent: &AgentModel) -> Option<f64> {
        let window = self.evaluation.window().seconds();
        let in_window = |b: u64| b + window > now && b <= now;
        let spaced = space_series(&self.metric, members, agent.flush_interval_secs);
        match self.evaluation {
            Evaluation::Threshold {
                aggregation: TimeAggregation::Percentile,
                ..
            } => {
                let p = match self.metric.space {
                    SpaceAggregation::Percentile(p) => p,
                    _ => 50.0,
                };
                let mut samples = window_samples(members, in_window);
                if samples.is_empty() {
                    samples = spaced
                        .iter()
                        .filter(|(b, _)| in_window(**b))
                        .map(|(_, v)| (*v, 1))
                        .collect();
                }
                percentile(&mut samples, p)
            }
            Evaluation::Threshold { aggregation, .. } => {
                let values: Vec<f64> = spaced
                    .iter()
                    .filter(|(b, _)| in_window(**b))
                    .map(|(_, v)| *v)
                    .collect();
                time_aggregate(aggregation, values)
            }
            Evaluation::Change {
                kind,
                aggregation,
                shift,
                ..
            } => {
                let shift = shift.seconds();
                let diffs: Vec<f64> = spaced
                    .iter()
                    .filter(|(b, _)| in_window(**b))
                    .filter_map(|(b, now_value)| {
                        let then = *spaced.get(&b.checked_sub(shift)?)?;
                        match kind {
                            ChangeKind::Absolute => Some(now_value - then),
                            ChangeKind::Percent if then != 0.0 => {
                                Some(100.0 * (now_value - then) / then)
                            }
                            ChangeKind::Percent => None,
                        }
                    })
                    .collect();
                time_aggregate(aggregation, diffs)
            }
        }
    }
}

/// One space-aggregated value per flush interval.
pub(crate) fn space_series(
    query: &MetricQuery,
    members: &[Series],
    flush: u64,
) -> BTreeMap<u64, f64> {
    type Pools = (Vec<(f64, u64)>, Vec<(f64, u64)>);
    let mut per_bucket: BTreeMap<u64, Pools> = BTreeMap::new();
    for s in members {
        for (b, v) in &s.buckets {
            let (values, samples) = per_bucket.entry(*b).or_default();
            match v {
                Flushed::Count(c) => values.push((
                    match query.modifier {
                        Some(TypeModifier::AsCount) => *c,
                        _ => *c / flush as f64,
                    },
                    1,
                )),
                Flushed::Gauge(g) => values.push((*g, 1)),
                Flushed::Samples(x) => samples.extend(x),
            }
        }
    }
    per_bucket
        .into_iter()
        .filter_map(|(b, (mut values, mut samples))| {
            let pool = if samples.is_empty() {
                &mut values
            } else {
                &mut samples
            };
            space_aggregate(query.space, pool).map(|v| (b, v))
        })
        .collect()
}

fn window_samples(members: &[Series], in_window: impl Fn(u64) -> bool) -> Vec<(f64, u64)> {
    members
        .iter()
        .flat_map(|s| s.buckets.iter())
        .filter(|(b, _)| in_window(**b))
        .flat_map(|(_, v)| match v {
            Flushed::Samples(x) => x.clone(),
            _ => Vec::new(),
        })
        .collect()
}

/// Aggregates `(value, weight)` pairs: a value of weight `n` counts as `n`
/// values (the Agent's sketch: `Cnt += n`, `Sum += n * v`).
fn space_aggregate(space: SpaceAggregation, values: &mut [(f64, u64)]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let count: f64 = values.iter().map(|(_, n)| *n as f64).sum();
    let sum: f64 = values.iter().map(|(v, n)| v * *n as f64).sum();
    match space {
        SpaceAggregation::Avg => Some(sum / count),
        SpaceAggregation::Sum => Some(sum),
        SpaceAggregation::Min => values.iter().map(|(v, _)| *v).reduce(f64::min),
        SpaceAggregation::Max => values.iter().map(|(v, _)| *v).reduce(f64::max),
        SpaceAggregation::Count => Some(count),
        SpaceAggregation::Percentile(p) => percentile(values, p),
    }
}

fn time_aggregate(aggregation: TimeAggregation, values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    match aggregation {
        TimeAggregation::Avg => Some(values.iter().sum::<f64>() / values.len() as f64),
        TimeAggregation::Sum => Some(values.iter().sum()),
        TimeAggregation::Min => values.iter().copied().reduce(f64::min),
        TimeAggregation::Max => values.iter().copied().reduce(f64::max),
        TimeAggregation::Percentile => {
            let mut weighted: Vec<(f64, u64)> = values.iter().map(|v| (*v, 1)).collect();
            percentile(&mut weighted, 50.0)
        }
    }
}

/// Nearest-rank percentile of weighted values, a value of weight `n`
/// standing for `n` values (Datadog's sketches are within 1 % of it).
fn percentile(values: &mut [(f64, u64)], p: f64) -> Option<f64> {
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|(_, n)| *n as f64).sum();
    let rank = ((p / 100.0) * total).ceil().max(1.0);
    let mut seen = 0.0;
    for (v, n) in values.iter() {
        seen += *n as f64;
        if seen >= rank {
            return Some(*v);
        }
    }
    values.last().map(|(v, _)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let mut v: Vec<(f64, u64)> = (1..=100).map(|i| (f64::from(i), 1)).collect();
        assert_eq!(percentile(&mut v, 95.0), Some(95.0));
        assert_eq!(percentile(&mut v, 50.0), Some(50.0));
        assert_eq!(percentile(&mut [(3.0, 1)], 99.0), Some(3.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn weights_count_as_that_many_values() {
        // 1 once and 10 three times: the median is 10, the mean 7.75.
        let mut v = vec![(1.0, 1), (10.0, 3)];
        assert_eq!(percentile(&mut v, 50.0), Some(10.0));
        assert_eq!(space_aggregate(SpaceAggregation::Avg, &mut v), Some(7.75));
        assert_eq!(space_aggregate(SpaceAggregation::Count, &mut v), Some(4.0));
        assert_eq!(space_aggregate(SpaceAggregation::Sum, &mut v), Some(31.0));
    }

    #[test]
    fn worst_state_order() {
        use MonitorState::*;
        assert_eq!(MonitorState::worst([Ok, NoData]), NoData);
        assert_eq!(MonitorState::worst([Warn, NoData, Alert]), Alert);
        assert_eq!(MonitorState::worst([Ok, Warn]), Warn);
    }
}
