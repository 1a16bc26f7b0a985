//! Handles: what the hot path holds. Each is a `Copy` pointer to a
//! `'static` series; using one is an add into the thread's own cell or a
//! push into its own ring — no lock, no allocation.

use std::sync::atomic::Ordering;

use crate::encoder::MetricType;
use crate::registry::{self, Series};
use crate::timed::{self, TimedPoint};
use crate::{flusher, sampling, shard};

/// A counter (`|c`), aggregated client-side and sent as one delta per flush.
///
/// ```
/// use pipeline_telemetry_dogstatsd::CounterHandle;
/// let runs = CounterHandle::register("pipeline.runs", &[("pipeline", "daily_etl")]);
/// runs.increment(1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct CounterHandle(&'static Series);

impl CounterHandle {
    /// Finds or registers the counter `name` with `tags` (sanitised here).
    pub fn register(name: &str, tags: &[(&str, &str)]) -> Self {
        CounterHandle(registry::series(MetricType::Count, name, tags))
    }

    /// Finds or registers a counter sampled client-side at `rate` (in
    /// `(0, 1]`): about `rate` of the calls are counted and the lines carry
    /// `|@rate`, so the Agent scales the total back.
    pub fn register_sampled(name: &str, tags: &[(&str, &str)], rate: f64) -> Self {
        CounterHandle(registry::sampled_series(
            MetricType::Count,
            rate,
            name,
            tags,
        ))
    }

    /// Adds `n`.
    #[inline]
    pub fn increment(&self, n: u64) {
        if self.0.sampled {
            return increment_sampled(self.0, n);
        }
        shard::add_cell(self.0.cell, n);
    }

    /// Sends `n` for the given time (`|T<unix seconds>`), not aggregated
    /// with other calls; for late data.
    pub fn increment_at(&self, n: u64, unix_seconds: u64) {
        timed::push(TimedPoint {
            id: self.0.id,
            value: n as f64,
            timestamp: unix_seconds,
        });
        flusher::wake_flush();
    }

    /// The series this handle records into.
    pub fn series(&self) -> &'static Series {
        self.0
    }
}

/// [`CounterHandle::increment`] of a series sampled client-side: out of
/// line, so that the common case stays small.
#[cold]
#[inline(never)]
fn increment_sampled(series: &Series, n: u64) {
    if sampling::keep(series.sample_rate) {
        shard::add(series.id, n);
    }
}

/// A gauge (`|g`): the last value set before a flush is sent.
#[derive(Debug, Clone, Copy)]
pub struct GaugeHandle(&'static Series);

impl GaugeHandle {
    /// Finds or registers the gauge `name` with `tags`.
    pub fn register(name: &str, tags: &[(&str, &str)]) -> Self {
        GaugeHandle(registry::series(MetricType::Gauge, name, tags))
    }

    /// Sets the value.
    #[inline]
    pub fn set(&self, value: f64) {
        self.0.gauge_bits.store(value.to_bits(), Ordering::Relaxed);
        self.0.gauge_dirty.store(true, Ordering::Release);
    }

    /// Sends `value` for the given time (`|T<unix seconds>`); for late data.
    pub fn set_at(&self, value: f64, unix_seconds: u64) {
        timed::push(TimedPoint {
            id: self.0.id,
            value,
            timestamp: unix_seconds,
        });
        flusher::wake_flush();
    }

    /// Adds `delta` (negative to subtract).
    pub fn add(&self, delta: f64) {
        let _ = self
            .0
            .gauge_bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + delta).to_bits())
            });
        self.0.gauge_dirty.store(true, Ordering::Release);
    }

    /// The series this handle records into.
    pub fn series(&self) -> &'static Series {
        self.0
    }
}

/// A distribution (`|d`): samples are sent in packed multi-value lines, so
/// the Agent computes the percentiles. Up to
/// [`with_max_samples_per_series`](crate::DogStatsDBuilder::with_max_samples_per_series)
/// samples per flush every sample is sent; past it, a uniform subset is
/// sent (every sample of the interval with the same chance), its values
/// weighted by integers carried in `|@rate`, so that the Agent, which
/// counts `int64(1/rate)` per value, counts exactly the samples recorded
/// and its percentiles stay unbiased.
#[derive(Debug, Clone, Copy)]
pub struct DistributionHandle(&'static Series);

impl DistributionHandle {
    /// Finds or registers the distribution `name` with `tags`.
    pub fn register(name: &str, tags: &[(&str, &str)]) -> Self {
        DistributionHandle(registry::series(MetricType::Distribution, name, tags))
    }

    /// Finds or registers a distribution sampled client-side at `rate`.
    pub fn register_sampled(name: &str, tags: &[(&str, &str)], rate: f64) -> Self {
        DistributionHandle(registry::sampled_series(
            MetricType::Distribution,
            rate,
            name,
            tags,
        ))
    }

    /// Records one sample. If this thread's buffer is past 7/8 full
    /// because the flusher cannot keep up, the sample is buffered with a
    /// chance that halves with each step of occupancy, else counted for its
    /// series, and the weights its series sends account for it.
    ///
    /// A series recorded far more often per flush than it sends values is
    /// thinned before its samples reach the buffer (see
    /// [`Series::source_level`]), the same way, for that series only.
    #[inline(always)]
    pub fn record(&self, value: f64) {
        if self.0.sampled && !sampling::keep(self.0.sample_rate) {
            return;
        }
        let level = self.0.source_level.load(Ordering::Relaxed);
        if shard::push_at(self.0.id, value, level) {
            flusher::wake();
        }
    }

    /// The series this handle records into.
    pub fn series(&self) -> &'static Series {
        self.0
    }
}

/// The adapter that lets a series back a `metrics` handle.
#[derive(Debug)]
pub(crate) struct SeriesFn(pub(crate) &'static Series);

impl metrics::CounterFn for SeriesFn {
    fn increment(&self, value: u64) {
        CounterHandle(self.0).increment(value);
    }

    fn absolute(&self, value: u64) {
        let total = shard::total(self.0.id);
        if value > total {
            CounterHandle(self.0).increment(value - total);
        }
    }
}

impl metrics::GaugeFn for SeriesFn {
    fn increment(&self, value: f64) {
        GaugeHandle(self.0).add(value);
    }

    fn decrement(&self, value: f64) {
        GaugeHandle(self.0).add(-value);
    }

    fn set(&self, value: f64) {
        GaugeHandle(self.0).set(value);
    }
}

impl metrics::HistogramFn for SeriesFn {
    fn record(&self, value: f64) {
        DistributionHandle(self.0).record(value);
    }
}
