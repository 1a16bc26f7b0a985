//! What the Datadog Agent makes of the points before Datadog sees them:
//! one value per series per flush interval.
//!
//! - counts: increments (scaled by 1 / sample rate) are summed per flush
//!   interval; after the last increment the Agent keeps flushing `0` for
//!   `dogstatsd_expiry_seconds`, then the series stops;
//! - gauges: the last value of the interval;
//! - sets: the number of distinct values of the interval;
//! - distributions: every sample is kept, with the weight the Agent gives
//!   it: `int64(1 / rate)` for a value sent with `|@rate` ([`agent_weight`]).
//!
//! Histograms and timers never match a query on their bare name (the
//! Agent only sends `<name>.avg`, `<name>.max`, ...).

use std::collections::BTreeMap;

use crate::point::{Point, PointKind};
use crate::query::{MetricQuery, TagFilter};

/// The parts of the Datadog Agent's DogStatsD behaviour that change
/// what a monitor sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AgentModel {
    /// The DogStatsD flush interval (10 s in the Agent).
    pub flush_interval_secs: u64,
    /// How long an idle counter keeps being flushed as `0`
    /// (`dogstatsd_expiry_seconds`, 300 s by default; 0 turns it off).
    pub counter_expiry_secs: u64,
}

impl Default for AgentModel {
    fn default() -> Self {
        AgentModel {
            flush_interval_secs: 10,
            counter_expiry_secs: 300,
        }
    }
}

impl AgentModel {
    /// An Agent with the given flush interval (at least 1 s) and counter expiry.
    ///
    /// ```
    /// let no_zero_fill = pipeline_telemetry_monitors::AgentModel::new(10, 0);
    /// assert_eq!(no_zero_fill.counter_expiry_secs, 0);
    /// ```
    pub const fn new(flush_interval_secs: u64, counter_expiry_secs: u64) -> Self {
        let flush_interval_secs = if flush_interval_secs == 0 {
            1
        } else {
            flush_interval_secs
        };
        AgentModel {
            flush_interval_secs,
            counter_expiry_secs,
        }
    }

    /// The start of the flush interval holding `timestamp`.
    pub const fn bucket(&self, timestamp: u64) -> u64 {
        timestamp - timestamp % self.flush_interval_secs
    }
}

/// The value of one series in one flush interval.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Flushed {
    /// A count: the (sample-rate scaled) sum of increments.
    Count(f64),
    /// A gauge or set value.
    Gauge(f64),
    /// Distribution samples and their weights ([`agent_weight`]).
    Samples(Vec<(f64, u64)>),
}

/// One series (a metric name and a set of tags) after the Agent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// Sorted, deduplicated tags.
    pub tags: Vec<String>,
    /// Bucket start → value.
    pub buckets: BTreeMap<u64, Flushed>,
}

impl Series {
    /// The value of tag `key`, if any.
    pub(crate) fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find_map(|t| match t.split_once(':') {
            Some((k, v)) if k == key => Some(v),
            _ => None,
        })
    }
}

/// How many samples the Agent counts for one distribution value sent with
/// sample rate `rate`: `int64(1 / rate)` in float64 arithmetic, truncated
/// (`quantile.Agent.Insert`, reached from `pkg/aggregator/sketch_map.go`),
/// and 1 for a rate outside `(0, 1]`.
///
/// ```
/// use pipeline_telemetry_monitors::rollup::agent_weight;
/// assert_eq!(agent_weight(1.0), 1);
/// assert_eq!(agent_weight(0.5), 2);
/// assert_eq!(agent_weight(0.3), 3); // 1 / 0.3 = 3.33...
/// // The float64 nearest 1/99 comes back as 98.99999999999999.
/// assert_eq!(agent_weight(0.010101010101010102), 98);
/// assert_eq!(agent_weight(0.0), 1);
/// assert_eq!(agent_weight(1.5), 1);
/// ```
pub fn agent_weight(rate: f64) -> u64 {
    if rate.is_nan() || rate <= 0.0 || rate >= 1.0 {
        return 1;
    }
    // `as` saturates, like Go's conversion on amd64 for finite values.
    ((1.0 / rate) as u64).max(1)
}

/// Every series of `query.metric` matching the query's scope, as flushed
/// by the Agent, up to `until` (inclusive).
pub(crate) fn series(
    points: &[Point],
    query: &MetricQuery,
    agent: &AgentModel,
    until: u64,
) -> Vec<Series> {
    let mut by_tags: BTreeMap<Vec<String>, Series> = BTreeMap::new();
    let mut sets: BTreeMap<(Vec<String>, u64), Vec<u64>> = BTreeMap::new();
    for p in points {
        if p.name != query.metric || p.timestamp > until || p.kind == PointKind::Histogram {
            continue;
        }
        if !query.filters.iter().all(|f| matches(f, &p.tags)) {
            continue;
        }
        let mut tags = p.tags.clone();
        tags.sort();
        tags.dedup();
        let bucket = agent.bucket(p.timestamp);
        if p.kind == PointKind::Set {
            sets.entry((tags.clone(), bucket))
                .or_default()
                .extend(p.values.iter().map(|v| v.to_bits()));
        }
        let series = by_tags.entry(tags.clone()).or_insert_with(|| Series {
            tags,
            buckets: BTreeMap::new(),
        });
        let slot = series
            .buckets
            .entry(bucket)
            .or_insert_with(|| match p.kind {
                PointKind::Count => Flushed::Count(0.0),
                PointKind::Distribution => Flushed::Samples(Vec::new()),
                _ => Flushed::Gauge(0.0),
            });
        match (p.kind, slot) {
            (PointKind::Count, Flushed::Count(c)) => {
                *c += p.values.iter().sum::<f64>() / p.sample_rate
            }
            (PointKind::Distribution, Flushed::Samples(s)) => {
                let weight = agent_weight(p.sample_rate);
                s.extend(p.values.iter().map(|v| (*v, weight)));
            }
            (PointKind::Gauge, slot) => {
                if let Some(last) = p.values.last() {
                    *slot = Flushed::Gauge(*last);
                }
            }
            // A set's value is computed below; a type change within a
            // series keeps the first type of the interval.
            _ => {}
        }
    }
    for ((tags, bucket), mut values) in sets {
        values.sort_unstable();
        values.dedup();
        if let Some(series) = by_tags.get_mut(&tags) {
            series
                .buckets
                .insert(bucket, Flushed::Gauge(values.len() as f64));
        }
    }
    let mut all: Vec<Series> = by_tags.into_values().collect();
    for s in &mut all {
        zero_fill_counts(s, agent, until);
    }
    all
}

/// The Agent flushes an idle counter as 0 until it expires.
fn zero_fill_counts(series: &mut Series, agent: &AgentModel, until: u64) {
    let step = agent.flush_interval_secs;
    let count_buckets: Vec<u64> = series
        .buckets
        .iter()
        .filter(|(_, v)| matches!(v, Flushed::Count(_)))
        .map(|(b, _)| *b)
        .collect();
    for b in count_buckets {
        let mut t = b + step;
        while t <= b + agent.counter_expiry_secs && t <= until {
            series.buckets.entry(t).or_insert(Flushed::Count(0.0));
            t += step;
        }
    }
}

/// Whether a point with `tags` is in the scope element `filter`.
/// Template variables match everything (their value is chosen in the UI).
pub(crate) fn matches(filter: &TagFilter, tags: &[String]) -> bool {
    match filter {
        TagFilter::All | TagFilter::TemplateVariable(_) => true,
        TagFilter::Tag {
            key,
            value,
            negated,
        } => {
            let found = tags.iter().any(|t| match t.split_once(':') {
                Some((k, v)) => k == key && glob(value, v),
                None => false,
            });
            found != *negated
        }
        TagFilter::Bare { tag, negated } => tags.iter().any(|t| t == tag) != *negated,
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::SpaceAggregation;

    #[test]
    fn counts_are_summed_per_flush_and_zero_filled_until_expiry() {
        let points = [
            Point::count(1_000, "c", 1.0),
            Point::count(1_004, "c", 2.0),
            Point {
                sample_rate: 0.5,
                ..Point::count(1_012, "c", 1.0)
            },
        ];
        let q = MetricQuery::new(SpaceAggregation::Sum, "c");
        let s = series(&points, &q, &AgentModel::default(), 2_000);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].buckets.get(&1_000), Some(&Flushed::Count(3.0)));
        assert_eq!(s[0].buckets.get(&1_010), Some(&Flushed::Count(2.0)));
        assert_eq!(s[0].buckets.get(&1_310), Some(&Flushed::Count(0.0)));
        assert_eq!(s[0].buckets.get(&1_320), None);
    }

    #[test]
    fn scope_filters_and_globs() {
        let tags = vec![
            "env:prod".to_owned(),
            "job:etl-daily".to_owned(),
            "canary".to_owned(),
        ];
        let tag = |k: &str, v: &str, negated| TagFilter::Tag {
            key: k.into(),
            value: v.into(),
            negated,
        };
        assert!(matches(&tag("job", "etl*", false), &tags));
        assert!(matches(&tag("job", "*daily", false), &tags));
        assert!(!matches(&tag("job", "etl", false), &tags));
        assert!(matches(&tag("env", "dev", true), &tags));
        assert!(matches(
            &TagFilter::Bare {
                tag: "canary".into(),
                negated: false
            },
            &tags
        ));
    }

    #[test]
    fn histograms_do_not_exist_under_the_bare_name() {
        let points = [Point::new(1_000, "h", PointKind::Histogram, 7.0)];
        let q = MetricQuery::new(SpaceAggregation::Avg, "h");
        assert!(series(&points, &q, &AgentModel::default(), 2_000).is_empty());
    }
}
