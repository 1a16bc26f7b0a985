//! Per-series reservoir sampling of distribution samples, on the flusher.
//!
//! Each flush interval, a series keeps at most `max` of its samples, a
//! uniformly chosen subset of those drained from the hot-path buffers
//! (Algorithm R, as datadog-go's max-samples-per-context does). Samples a
//! full per-thread buffer could not take are not lost without account
//! either: the producer counts them per series (a cell only it writes).
//! When a series' line is sent, the samples it holds stand for all it saw:
//! they carry `|@rate` = kept / (drained + counted), so Datadog's count
//! (each sample weighs 1/rate) equals what was recorded and its
//! percentiles stay unbiased at any call rate.

/// The default number of samples one series sends per flush at most.
pub const DEFAULT_MAX_SAMPLES_PER_SERIES: usize = 4096;

/// What one series sends this flush.
#[derive(Debug)]
pub(crate) struct Taken<'a> {
    /// The samples kept.
    pub(crate) values: &'a [f64],
    /// kept / seen (1 when nothing was left out).
    pub(crate) factor: f64,
}

#[derive(Debug)]
pub(crate) struct Reservoirs {
    max: usize,
    kept: Vec<Vec<f64>>,
    /// Samples drained this interval, by series id.
    seen: Vec<u64>,
    /// Per-series totals of producer-side skips already accounted for.
    skipped_seen: Vec<u64>,
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
            kept: Vec::new(),
            seen: Vec::new(),
            skipped_seen: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
            sampled_out: 0,
        }
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max.max(1);
    }

    /// Makes room for series ids below `len`.
    pub(crate) fn grow(&mut self, len: usize) {
        if self.kept.len() < len {
            self.kept.resize_with(len, Vec::new);
            self.seen.resize(len, 0);
            self.skipped_seen.resize(len, 0);
        }
    }

    #[inline]
    fn next(&mut self) -> u64 {
        // xorshift64*: quality is ample for choosing slots.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Offers one drained sample of series `id` (Algorithm R).
    #[inline]
    pub(crate) fn offer(&mut self, id: usize, v: f64) {
        self.grow(id + 1);
        self.seen[id] += 1;
        let seen = self.seen[id];
        if self.kept[id].len() < self.max {
            self.kept[id].push(v);
        } else {
            let j = (self.next() % seen) as usize;
            if let Some(slot) = self.kept[id].get_mut(j) {
                *slot = v;
            }
        }
    }

    /// Hands series `id`'s kept samples and their rate factor to `f`, given
    /// the producer-side skip total of the series; then starts a new
    /// interval for it. Nothing is handed over while no sample is kept
    /// (skips are then accounted for with the next samples).
    pub(crate) fn take(&mut self, id: usize, skipped_total: u64, f: impl FnOnce(Taken<'_>)) {
        self.grow(id + 1);
        if self.kept[id].is_empty() {
            return;
        }
        let skipped = skipped_total.wrapping_sub(self.skipped_seen[id]);
        self.skipped_seen[id] = skipped_total;
        let seen = std::mem::take(&mut self.seen[id]).saturating_add(skipped);
        let kept = &mut self.kept[id];
        let n = kept.len() as u64;
        self.sampled_out += seen.saturating_sub(n);
        let factor = if seen > n {
            n as f64 / seen as f64
        } else {
            1.0
        };
        f(Taken {
            values: kept,
            factor,
        });
        if kept.capacity() > 1024 {
            // A burst's buffer is not kept for every quiet interval after.
            *kept = Vec::new();
        } else {
            kept.clear();
        }
    }

    /// Samples left out (and accounted for by `|@rate`) since the last call.
    pub(crate) fn take_sampled_out(&mut self) -> u64 {
        std::mem::take(&mut self.sampled_out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_all_below_the_bound_and_a_rated_subset_above() {
        let mut r = Reservoirs::new();
        r.set_max(100);
        (0..50).for_each(|i| r.offer(3, f64::from(i)));
        let mut got = None;
        r.take(3, 0, |t| got = Some((t.values.len(), t.factor)));
        assert_eq!(got, Some((50, 1.0)));

        (0..10_000).for_each(|i| r.offer(3, f64::from(i)));
        let mut got = None;
        // 5_000 more were counted by the producers' full buffers.
        r.take(3, 5_000, |t| got = Some((t.values.to_vec(), t.factor)));
        let (values, factor) = got.expect("taken");
        assert_eq!(values.len(), 100);
        assert!((values.len() as f64 / factor - 15_000.0).abs() < 1e-6);
        // Uniform over what was drained: not just the first 100.
        assert!(values.iter().any(|v| *v >= 100.0));
        assert_eq!(r.take_sampled_out(), 14_900);
    }

    #[test]
    fn skips_without_kept_samples_wait_for_the_next_ones() {
        let mut r = Reservoirs::new();
        r.set_max(10);
        let mut called = false;
        r.take(1, 7, |_| called = true);
        assert!(!called);
        r.offer(1, 1.0);
        let mut got = None;
        r.take(1, 7, |t| got = Some(t.factor));
        assert_eq!(got, Some(1.0 / 8.0));
    }
}
