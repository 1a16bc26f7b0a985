//! Per-series sampling of distribution samples, on the flusher: every
//! sample of a flush interval has the same chance to be sent, whatever its
//! thread or its moment, and the values sent carry integer weights that
//! add up, as the Datadog Agent counts them, to exactly the samples
//! recorded.
//!
//! **Who is a candidate.** A thread's ring takes every sample until it is
//! 7/8 full. Past that (the flusher is behind), a push at level `l` is
//! kept with probability 2^-l and tagged with `l`; a sample left out is
//! counted for its series in a cell only its thread writes (see `ring` and
//! `shard`). Without more, a sample's chance would depend on how full its
//! thread's ring was when it was recorded (with the flusher stalled for an
//! interval, a ring that simply filled and skipped the rest would send
//! only the interval's first samples). So the flusher thins each series to
//! the highest level `L` offered in the interval by any shard it drained the
//! series from (offered, not kept: the level must not depend on which
//! offers were kept): a sample tagged `l` stays a candidate with
//! probability 2^-(L-l), and every sample of the interval ends with the
//! same chance, 2^-L. Only a ring that is completely full skips a sample
//! outright; the levels make that take 2^35 pushes or more past 7/8 of the
//! ring, and such a skip raises the interval's level to the top.
//!
//! The price is precision, never counts: one lagging moment thins its
//! series' whole interval, so a series sends fewer values than `max` after
//! a stall (a series thinned to no candidate at all sends one drained
//! sample, uniformly chosen, carrying the interval's whole count; a
//! series with samples left out and none drained sends the value of one
//! of its left-out samples, kept by the producers: see `shard::left_out`,
//! so no count waits for a sample that may never come). Offers
//! made between a flush's drain and the end of its interval (a few
//! microseconds) are not seen as the next interval's levels.
//!
//! **Which candidates are sent.** Each candidate gets a uniformly random
//! key, drawn so that a sample tagged `l` has a key uniform below
//! 2^(64-l); thinning to `L` keeps the keys below 2^(64-L), so the
//! survivors' keys are uniform and independent of their values. A series
//! sends the `max` candidates of smallest key (bottom-k sampling over a
//! max-heap of keys): a uniform subset of its interval's samples, as
//! Algorithm R or datadog-go's max-samples-per-context would keep. Up to
//! `max` samples and no lagging ring, everything is sent, weight 1.
//!
//! **Weights, as the Agent counts them.** The Agent counts a value sent
//! with `|@rate r` as `int64(1/r)`, truncated, per value (see `weight`),
//! so a fractional weight such as 8000/4096 would be counted as 1. The
//! `n` samples a series recorded in the interval (drained plus left out)
//! are spread over its `k` values sent as integer weights: `n mod k`
//! values weigh `⌊n/k⌋ + 1`, the rest `⌊n/k⌋`, and the heavier ones are
//! the values of smallest key (a uniform choice, independent of the
//! values). Each weight group goes out as its own line, with the rate the
//! Agent truncates to exactly that weight; so for every series and every
//! flush, the Agent's count equals the samples recorded. A series sampled
//! client-side at rate `r0 < 1` stands for `n / r0` calls, rounded up or
//! down at random to an integer with that expectation, and spread the same
//! way.

use std::collections::BinaryHeap;

pub(crate) use crate::ring::Levels;

/// The default number of samples one series sends per flush at most.
pub const DEFAULT_MAX_SAMPLES_PER_SERIES: usize = 4096;

/// A candidate: its random key, and its value. Ordered by key only.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    value: f64,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// One series' interval.
#[derive(Debug, Default)]
struct Series {
    /// The candidates, in arrival order, while fewer than `max`.
    kept: Vec<Entry>,
    /// The `max` candidates of smallest key once there were more (a
    /// max-heap; `kept` is then empty).
    heap: BinaryHeap<Entry>,
    /// Samples drained this interval.
    seen: u64,
    /// The level this interval's samples are thinned to.
    level: u32,
    /// The producer-side skip total already accounted for.
    skipped_seen: u64,
    /// The drained sample of smallest raw draw (a uniform one of them),
    /// sent alone should thinning leave no candidate.
    fallback: Option<Entry>,
}

/// The largest key a candidate may have at `level`.
fn threshold(level: u32) -> u64 {
    u64::MAX >> level.min(63)
}

#[derive(Debug)]
pub(crate) struct Reservoirs {
    max: usize,
    series: Vec<Series>,
    /// The values of one weight group, handed out by [`Reservoirs::take`].
    values: Vec<f64>,
    rng: u64,
    /// Samples recorded but not sent (accounted for by `|@rate`), since the
    /// last call of [`Reservoirs::take_sampled_out`].
    sampled_out: u64,
}

impl Default for Reservoirs {
    fn default() -> Self {
        Self::new()
    }
}

impl Reservoirs {
    pub(crate) const fn new() -> Self {
        Reservoirs {
            max: DEFAULT_MAX_SAMPLES_PER_SERIES,
            series: Vec::new(),
            values: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
            sampled_out: 0,
        }
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max.max(1);
    }

    /// Makes room for series ids below `len`.
    pub(crate) fn grow(&mut self, len: usize) {
        if self.series.len() < len {
            self.series.resize_with(len, Series::default);
        }
    }

    #[inline]
    fn next(&mut self) -> u64 {
        // xorshift64*: quality is ample for keys and rounding.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Offers one drained sample of series `id`, kept by its producer with
    /// probability 2^-`levels.own`, to be thinned to at least
    /// `levels.interval`.
    #[inline]
    pub(crate) fn offer(&mut self, id: usize, levels: Levels, v: f64) {
        self.grow(id + 1);
        let raw = self.next();
        let key = raw >> levels.own.min(63);
        let max = self.max;
        let s = &mut self.series[id];
        s.seen += 1;
        if !matches!(s.fallback, Some(f) if f.key <= raw) {
            s.fallback = Some(Entry { key: raw, value: v });
        }
        let level = levels.interval.max(levels.own);
        if level > s.level {
            // Thin what is kept to the new level: survivors keep keys
            // below the new threshold, uniform as before.
            s.level = level;
            let t = threshold(level);
            s.kept.retain(|e| e.key <= t);
            s.heap.retain(|e| e.key <= t);
        }
        if key > threshold(s.level) {
            return;
        }
        if s.heap.is_empty() {
            if s.kept.len() < max {
                s.kept.push(Entry { key, value: v });
                return;
            }
            s.heap = BinaryHeap::from(std::mem::take(&mut s.kept));
        }
        if s.heap.len() < max {
            s.heap.push(Entry { key, value: v });
        } else if let Some(mut top) = s.heap.peek_mut() {
            if key < top.key {
                *top = Entry { key, value: v };
            }
        }
    }

    /// Hands series `id`'s values to `f` in weight groups, `(values,
    /// weight)`, given the producer-side skip total of the series and its
    /// client-side rate; then starts a new interval for it. A series with
    /// samples left out by the producers and none drained sends the value
    /// `left_out` gives (one a left-out sample had), weighted by their
    /// count; should no producer have kept one yet, the count waits for the
    /// next flush. Returns the samples of the interval handed over
    /// (drained and left out; 0 when nothing was handed over), before any
    /// client-side rate, for [`source_level`].
    pub(crate) fn take(
        &mut self,
        id: usize,
        skipped_total: u64,
        rate: f64,
        left_out: impl FnOnce() -> Option<f64>,
        mut f: impl FnMut(&[f64], u64),
    ) -> u64 {
        self.grow(id + 1);
        let draw = self.next();
        let s = &mut self.series[id];
        let skipped = skipped_total.wrapping_sub(s.skipped_seen);
        let fallback = match s.fallback.take() {
            Some(drained) => drained,
            None if skipped > 0 => match left_out() {
                Some(value) => Entry { key: 0, value },
                None => return 0,
            },
            None => return 0,
        };
        if !s.heap.is_empty() {
            s.kept = std::mem::take(&mut s.heap).into_vec();
        }
        if s.kept.is_empty() {
            // Thinning left no candidate (a few samples in a lagging
            // shard's interval): one drained sample, uniformly chosen,
            // stands for them all (or, with none drained, a left-out one).
            s.kept.push(fallback);
        }
        s.skipped_seen = skipped_total;
        let recorded = std::mem::take(&mut s.seen).saturating_add(skipped);
        s.level = 0;
        let mut kept = std::mem::take(&mut s.kept);
        let k = kept.len() as u64;
        self.sampled_out += recorded.saturating_sub(k);
        let total = calls(recorded, rate, draw).max(k);
        let (weight, heavier) = (total / k, (total % k) as usize);
        if heavier > 0 {
            // The `heavier` smallest keys first: a uniform choice.
            kept.select_nth_unstable(heavier);
        }
        let values = &mut self.values;
        values.clear();
        values.extend(kept.iter().map(|e| e.value));
        f(&values[..heavier], weight + 1);
        f(&values[heavier..], weight);
        if values.capacity() > 1024 {
            // A burst's buffers are not kept for every quiet interval after.
            *values = Vec::new();
        }
        if kept.capacity() <= 1024 {
            kept.clear();
            self.series[id].kept = kept;
        }
        recorded
    }

    /// The most samples one series sends per flush.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Samples left out (and accounted for by `|@rate`) since the last call.
    pub(crate) fn take_sampled_out(&mut self) -> u64 {
        std::mem::take(&mut self.sampled_out)
    }
}

/// The highest level a series is thinned to at the source (its samples'
/// levels add to a ring's, and must stay below `ring::LEVELS`).
pub(crate) const SOURCE_TOP: u32 = 24;

/// The level to thin a series at the source to, for the next interval,
/// given the samples it recorded in the last one (`recorded`) and the most
/// it sends per flush (`max`): none below 16 × `max`, else the highest
/// that still keeps, in expectation, at least 8 × `max` candidates, so the
/// reservoir's uniform choice is made among as many as before, from a
/// uniform subset. A series' rate that jumps between two intervals is
/// thinned by the buffers as before, then at the source from the next.
pub(crate) fn source_level(recorded: u64, max: usize) -> u32 {
    // Saturating: a cap of `usize::MAX` means never thinned at the source.
    let floor = (max.max(1) as u64).saturating_mul(8);
    if recorded < floor.saturating_mul(2) {
        0
    } else {
        (recorded / floor).ilog2().min(SOURCE_TOP)
    }
}

/// The calls `recorded` samples of a series sampled client-side at `rate`
/// stand for: `recorded / rate`, rounded down or up with the probability
/// that makes its expectation exact (`draw` is a uniform random word).
fn calls(recorded: u64, rate: f64, draw: u64) -> u64 {
    if !(rate > 0.0 && rate < 1.0) {
        return recorded;
    }
    let exact = recorded as f64 / rate;
    let whole = exact.floor();
    let u = (draw >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    whole as u64 + u64::from(u < exact - whole)
}

#[cfg(test)]
mod tests;
