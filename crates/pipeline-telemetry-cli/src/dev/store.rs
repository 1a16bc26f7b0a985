//! What `dev` keeps of the DogStatsD traffic: each series' values per
//! 10 s flush interval, as the Datadog Agent aggregates them before a flush
//! (counts summed with `1 / rate` scaling, the last gauge value, every
//! distribution sample with its rate, the distinct values of a set), within
//! a window of history and a cap on series and samples (distribution
//! samples and set values together).
//!
//! The samples of the metrics a request evaluates become [`Point`]s for the
//! monitors crate's evaluator (one point per series and flush interval, or
//! per sample rate of a distribution's interval), which applies the Agent's
//! arithmetic (a distribution value sent with `|@rate` weighs
//! `int64(1 / rate)`; see `rollup::agent_weight`).

use std::collections::{HashMap, HashSet};

use pipeline_telemetry_dogstatsd::encoder::MetricType;
use pipeline_telemetry_dogstatsd::parse::{parse_line, ParsedMetric};
use pipeline_telemetry_monitors::{AgentModel, Point, PointKind};

/// Bounds on what is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// History kept, in seconds (whole flush intervals).
    pub window_secs: u64,
    /// Distinct series (name, type and tags) at most.
    pub max_series: usize,
    /// Distribution samples and set values kept at most, over every
    /// series.
    pub max_samples: usize,
    /// Longest name plus tags of a series, in bytes.
    pub max_key_bytes: usize,
    /// Distinct values of a set per flush interval at most.
    pub max_set_values: usize,
}

impl Limits {
    /// The defaults for `window_minutes` of history.
    pub(crate) fn new(window_minutes: u64) -> Self {
        Limits {
            window_secs: window_minutes.clamp(1, 24 * 60) * 60,
            max_series: 10_000,
            max_samples: 1_000_000,
            max_key_bytes: 2_048,
            max_set_values: 1_000,
        }
    }
}

/// What arrived and what was turned away.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    pub datagrams: u64,
    pub lines: u64,
    /// Lines that are not DogStatsD metrics `dev` reads, or out of the window.
    pub rejected_lines: u64,
    /// Histogram and timer lines (the Agent turns them into `.avg`, `.max`,
    /// ...; no widget queries those).
    pub histogram_lines: u64,
    pub dropped_series: u64,
    /// Distribution samples and set values over `max_samples`.
    pub dropped_samples: u64,
    /// Why the last line was rejected (shortened).
    pub last_rejection: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Count,
    Gauge,
    Distribution,
    Set,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    name: String,
    kind: Kind,
    /// Sorted, deduplicated.
    tags: Vec<String>,
}

#[derive(Debug, Clone)]
enum Slot {
    Count(f64),
    Gauge(f64),
    /// `(value, sample rate)`.
    Samples(Vec<(f64, f64)>),
    /// Distinct values, as bits.
    Set(Vec<u64>),
}

/// The kept series, bucketed by flush interval.
#[derive(Debug)]
pub(crate) struct Store {
    limits: Limits,
    agent: AgentModel,
    series: HashMap<Key, Vec<(u64, Slot)>>,
    /// Distribution samples and set values kept.
    samples: usize,
    stats: Stats,
    /// The second of the last eviction: at most one pass a second.
    evicted_at: u64,
    /// Changes whenever what [`Store::points`] gives may change.
    generation: u64,
}

/// A sample rate as the Agent reads it: outside `(0, 1]` it is 1.
fn rate(metric: &ParsedMetric) -> f64 {
    metric
        .sample_rate
        .filter(|r| *r > 0.0 && *r <= 1.0)
        .unwrap_or(1.0)
}

impl Store {
    pub(crate) fn new(limits: Limits) -> Self {
        Store {
            limits,
            agent: AgentModel::default(),
            series: HashMap::new(),
            samples: 0,
            stats: Stats::default(),
            evicted_at: 0,
            generation: 0,
        }
    }

    /// The Agent model the buckets follow.
    pub(crate) fn agent(&self) -> AgentModel {
        self.agent
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    pub(crate) fn sample_count(&self) -> usize {
        self.samples
    }

    /// A number that changes whenever the kept values may have changed:
    /// equal numbers, equal [`Store::points`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Reads one datagram received at `now` (unix seconds): any bytes.
    pub(crate) fn ingest(&mut self, datagram: &[u8], now: u64) {
        self.stats.datagrams += 1;
        self.generation += 1;
        let text = String::from_utf8_lossy(datagram);
        for line in text.split('\n').map(|l| l.trim_end_matches('\r')) {
            if line.is_empty() {
                continue;
            }
            self.stats.lines += 1;
            if let Err(why) = self.ingest_line(line, now) {
                self.stats.rejected_lines += 1;
                self.stats.last_rejection = Some(why.chars().take(160).collect());
            }
        }
        if now != self.evicted_at {
            self.evict(now);
        }
    }

    fn ingest_line(&mut self, line: &str, now: u64) -> Result<(), String> {
        if line.starts_with("_e{") || line.starts_with("_sc|") {
            return Err("events and service checks are not shown".into());
        }
        let metric = parse_line(line).map_err(|e| e.to_string())?;
        let kind = match metric.kind {
            MetricType::Count => Kind::Count,
            MetricType::Gauge => Kind::Gauge,
            MetricType::Distribution => Kind::Distribution,
            MetricType::Set => Kind::Set,
            _ => {
                self.stats.histogram_lines += 1;
                return Ok(());
            }
        };
        let ts = metric.timestamp.unwrap_or(now);
        if ts.saturating_add(self.limits.window_secs) <= now
            || ts > now.saturating_add(self.agent.flush_interval_secs)
        {
            return Err(format!("timestamp {ts} is outside the window of history"));
        }
        let key_bytes = metric.name.len() + metric.tags.iter().map(String::len).sum::<usize>();
        if key_bytes > self.limits.max_key_bytes {
            return Err(format!("a series of {key_bytes} bytes of name and tags"));
        }
        let mut tags = metric.tags.clone();
        tags.sort();
        tags.dedup();
        let key = Key {
            name: metric.name.clone(),
            kind,
            tags,
        };
        if !self.series.contains_key(&key) && self.series.len() >= self.limits.max_series {
            self.stats.dropped_series += 1;
            return Ok(());
        }
        let bucket = self.agent.bucket(ts);
        let buckets = self.series.entry(key).or_default();
        let index = match buckets.iter().rposition(|(b, _)| *b == bucket) {
            Some(i) => i,
            None => {
                let slot = match kind {
                    Kind::Count => Slot::Count(0.0),
                    Kind::Gauge => Slot::Gauge(0.0),
                    Kind::Distribution => Slot::Samples(Vec::new()),
                    Kind::Set => Slot::Set(Vec::new()),
                };
                let at = buckets.partition_point(|(b, _)| *b < bucket);
                buckets.insert(at, (bucket, slot));
                at
            }
        };
        let rate = rate(&metric);
        match &mut buckets[index].1 {
            Slot::Count(c) => *c += metric.values.iter().map(|v| v / rate).sum::<f64>(),
            Slot::Gauge(g) => *g = metric.values.last().copied().unwrap_or(*g),
            Slot::Samples(s) => {
                for v in &metric.values {
                    if self.samples >= self.limits.max_samples {
                        self.stats.dropped_samples += 1;
                        continue;
                    }
                    s.push((*v, rate));
                    self.samples += 1;
                }
            }
            Slot::Set(values) => {
                for v in &metric.values {
                    let bits = v.to_bits();
                    if let Err(at) = values.binary_search(&bits) {
                        if values.len() >= self.limits.max_set_values {
                            continue;
                        }
                        if self.samples >= self.limits.max_samples {
                            self.stats.dropped_samples += 1;
                            continue;
                        }
                        values.insert(at, bits);
                        self.samples += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Forgets the flush intervals that left the window.
    pub(crate) fn evict(&mut self, now: u64) {
        self.evicted_at = now;
        let oldest = now.saturating_sub(self.limits.window_secs);
        let mut freed = 0;
        let mut dropped = false;
        self.series.retain(|_, buckets| {
            let keep_from = buckets.partition_point(|(b, _)| *b < oldest);
            dropped |= keep_from > 0;
            for (_, slot) in buckets.drain(..keep_from) {
                match slot {
                    Slot::Samples(s) => freed += s.len(),
                    Slot::Set(v) => freed += v.len(),
                    Slot::Count(_) | Slot::Gauge(_) => {}
                }
            }
            !buckets.is_empty()
        });
        self.samples -= freed.min(self.samples);
        if dropped {
            self.generation += 1;
        }
    }

    /// The kept values of the metrics named in `names` as points for the
    /// evaluator (nothing of the other metrics is copied: what a request
    /// copies is bounded by the caps, at most one point per series and
    /// flush interval plus `max_samples` values), and the earliest flush
    /// interval kept of any metric.
    pub(crate) fn points(&self, names: &HashSet<String>) -> (Vec<Point>, Option<u64>) {
        let mut points = Vec::new();
        let mut first: Option<u64> = None;
        for (key, buckets) in &self.series {
            if let Some((b, _)) = buckets.first() {
                first = Some(first.map_or(*b, |f| f.min(*b)));
            }
            if !names.contains(&key.name) {
                continue;
            }
            let tags = || key.tags.iter().cloned();
            for (bucket, slot) in buckets {
                let name = key.name.as_str();
                match slot {
                    Slot::Count(c) => {
                        points.push(Point::count(*bucket, name, *c).with_tags(tags()))
                    }
                    Slot::Gauge(g) => {
                        points.push(Point::gauge(*bucket, name, *g).with_tags(tags()))
                    }
                    Slot::Samples(s) => {
                        // One point per sample rate, carrying its values.
                        let mut by_rate: Vec<(f64, Vec<f64>)> = Vec::new();
                        for (v, r) in s {
                            match by_rate.iter_mut().find(|(rate, _)| rate == r) {
                                Some((_, values)) => values.push(*v),
                                None => by_rate.push((*r, vec![*v])),
                            }
                        }
                        points.extend(by_rate.into_iter().map(|(r, values)| {
                            let mut p = Point::distribution(*bucket, name, 0.0)
                                .with_sample_rate(r)
                                .with_tags(tags());
                            p.values = values;
                            p
                        }));
                    }
                    Slot::Set(values) if values.is_empty() => {}
                    Slot::Set(values) => {
                        // One point carrying the interval's distinct values.
                        let mut p =
                            Point::new(*bucket, name, PointKind::Set, 0.0).with_tags(tags());
                        p.values = values.iter().map(|bits| f64::from_bits(*bits)).collect();
                        points.push(p);
                    }
                }
            }
        }
        (points, first)
    }
}

#[cfg(test)]
impl Store {
    /// Every kept value as points.
    pub(crate) fn all_points(&self) -> (Vec<Point>, Option<u64>) {
        let names = self.series.keys().map(|k| k.name.clone()).collect();
        self.points(&names)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
