//! What a dashboard graph shows for one [`MetricQuery`]: per group, one
//! space-aggregated value per flush interval, with the same Agent model
//! and aggregation rules as the monitors ([`crate::eval`]).
//!
//! ```
//! use pipeline_telemetry_monitors::parse::parse_metric_query;
//! use pipeline_telemetry_monitors::{AgentModel, Point};
//!
//! let q = parse_metric_query("sum:pipeline.errors{*} by {stage}.as_count()").unwrap();
//! let points = [
//!     Point::count(1_000, "pipeline.errors", 1.0).with_tag("stage", "spark"),
//!     Point::count(1_004, "pipeline.errors", 2.0).with_tag("stage", "spark"),
//!     Point::count(1_012, "pipeline.errors", 1.0).with_tag("stage", "load"),
//! ];
//! // Flush intervals starting in (990, 1_020]; no zero-filling of idle counters.
//! let graph = q.timeseries(&points, 990, 1_020, &AgentModel::new(10, 0));
//! assert_eq!(graph.len(), 2);
//! assert_eq!(graph[0].group, ["stage:load"]);
//! assert_eq!(graph[0].points, [(1_010, 1.0)]);
//! assert_eq!(graph[1].group, ["stage:spark"]);
//! assert_eq!(graph[1].points, [(1_000, 3.0)]);
//! ```

use std::collections::BTreeMap;

use crate::eval::space_series;
use crate::point::Point;
use crate::query::MetricQuery;
use crate::rollup::{series, AgentModel, Series};

/// One group of a graphed query (`by {...}` values; empty without `by`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GroupSeries {
    /// `key:value` for each grouping key (`key:N/A` when a series lacks it).
    pub group: Vec<String>,
    /// `(flush interval start, value)`, in time order.
    pub points: Vec<(u64, f64)>,
}

impl MetricQuery {
    /// The graph of this query over the flush intervals starting in
    /// `(from, until]` (unix seconds): counts per second, or per flush
    /// interval with `.as_count()`; distributions aggregated over every
    /// sample of the group, each with its Agent weight. Groups are in the
    /// order of their `key:value` lists; a group without any value in the
    /// range is left out.
    pub fn timeseries(
        &self,
        points: &[Point],
        from: u64,
        until: u64,
        agent: &AgentModel,
    ) -> Vec<GroupSeries> {
        let mut groups: BTreeMap<Vec<String>, Vec<Series>> = BTreeMap::new();
        for s in series(points, self, agent, until) {
            let key = self
                .group_by
                .iter()
                .map(|k| format!("{k}:{}", s.tag(k).unwrap_or("N/A")))
                .collect();
            groups.entry(key).or_default().push(s);
        }
        groups
            .into_iter()
            .filter_map(|(group, members)| {
                let points: Vec<(u64, f64)> =
                    space_series(self, &members, agent.flush_interval_secs)
                        .into_iter()
                        .filter(|(b, _)| *b > from && *b <= until)
                        .collect();
                (!points.is_empty()).then_some(GroupSeries { group, points })
            })
            .collect()
    }
}
