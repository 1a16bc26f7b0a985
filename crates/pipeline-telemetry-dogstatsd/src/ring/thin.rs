//! Thinning: what a push past 7/8 of the ring does.
//!
//! **Levels.** Past 7/8 of the ring's capacity (the flusher is behind),
//! an offer is thinned at a *level* `l` >= 1 and kept with probability
//! 2^-l: each band of 1/256 of the capacity raises the level by one (see
//! [`level`]). Filling the last eighth takes about 2^28 times its size in
//! pushes (2^35 for the smallest ring), so a ring whose flusher is stalled
//! keeps taking an ever smaller share of the samples instead of filling.
//!
//! **Skips.** From level [`SKIP_FROM`] on, the producer does not draw for
//! every offer: it draws how many offers at that level to leave out before
//! the next one kept (a geometric skip, as in reservoir sampling's
//! Algorithm L), and a left-out offer is then a decrement. A skip is kept
//! per level (a slot each): an offer at another level counts against that
//! level's skip, and whichever series an offer is of, it is the same
//! sequence of independent trials at the level's chance. Each offer
//! is still kept with probability 2^-l, independently of the others (a
//! geometric draw's remainder is geometric again, whatever happened
//! between).

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Pushed, Ring, LEVELS, LEVEL_SHIFT};

/// The lowest level whose offers are thinned by a drawn skip rather than
/// a draw per offer (one draw, two logarithms, then stands for 64 offers
/// or more).
pub(crate) const SKIP_FROM: u32 = 6;

/// The thinning level of a push into a buffer of `capacity` (a power of
/// two of at least 256) that holds `used` samples: 0 below 7/8 of the
/// capacity, then one more per 1/256 of it (at most 33).
#[inline]
pub(crate) fn level(used: usize, capacity: usize) -> u32 {
    let from = capacity - capacity / 8;
    if used < from {
        0
    } else {
        level_past(used - from, band_shift(capacity))
    }
}

/// log2 of the slots in one band of a buffer of `capacity` (a power of
/// two of at least 256).
pub(super) const fn band_shift(capacity: usize) -> u32 {
    capacity.trailing_zeros() - 8
}

/// The level `past` slots into the last eighth (a shift: no division on
/// the producer's path).
#[inline]
fn level_past(past: usize, band_shift: u32) -> u32 {
    1 + (past >> band_shift) as u32
}

impl Ring {
    /// The level of an offer past 7/8 of a ring that is not full and
    /// holds `used` samples.
    #[inline]
    pub(crate) fn past_level(&self, used: usize) -> u32 {
        level_past(used - self.thin_from, self.band_shift)
    }

    /// The skip slot of `level`.
    #[inline]
    fn skip_slot(&self, level: u32) -> &AtomicU64 {
        &self.producer.skips[level as usize % LEVELS]
    }

    /// An offer at `level` left out by the skip drawn at that level (it is
    /// then counted against the skip); `false` when the offer needs
    /// [`Ring::push_past_drawn`] or [`Ring::kept_at`] (a level below
    /// [`SKIP_FROM`], a level with no skip drawn, or the offer its skip
    /// ends on).
    #[inline]
    pub(crate) fn skip_at(&self, level: u32) -> bool {
        let slot = self.skip_slot(level);
        let left = slot.load(Ordering::Relaxed);
        if left < 2 {
            return false;
        }
        slot.store(left - 1, Ordering::Relaxed);
        true
    }

    /// A push past 7/8 of the ring, all in one, for tests.
    #[cfg(test)]
    pub(crate) fn push_past(&self, id: u32, bits: u64, head: usize, used: usize) -> Pushed {
        if self.is_full(used) {
            return self.push_full();
        }
        let level = self.past_level(used);
        if self.skip_at(level) {
            return Pushed::Thinned {
                level,
                kept: false,
                wake: false,
            };
        }
        self.push_past_drawn(id, bits, head, used, level)
    }

    /// A push past 7/8 of a ring that is not full, at `level` (from
    /// [`Ring::past_level`]), where [`Ring::skip_at`] said `false`.
    #[inline]
    pub(crate) fn push_past_drawn(
        &self,
        id: u32,
        bits: u64,
        head: usize,
        used: usize,
        level: u32,
    ) -> Pushed {
        let p = &*self.producer;
        // A thinned push ends a full spell.
        if p.full.load(Ordering::Relaxed) {
            p.full.store(false, Ordering::Relaxed);
        }
        let kept = self.kept_at(level);
        if kept {
            // `id` may carry the level it was thinned at by its source:
            // the levels add.
            self.store(head, id + (level << LEVEL_SHIFT), bits);
        }
        Pushed::Thinned {
            level,
            kept,
            // The first sample stored at each level.
            wake: kept && (used - self.thin_from) & ((1 << self.band_shift) - 1) == 0,
        }
    }

    /// Whether an offer at `level` that [`Ring::skip_at`] did not leave
    /// out is kept: with probability 2^-level, by a draw of its own below
    /// [`SKIP_FROM`], else by the skip drawn at its level.
    #[inline]
    pub(crate) fn kept_at(&self, level: u32) -> bool {
        if level < SKIP_FROM {
            crate::sampling::keep_at_level(level)
        } else {
            self.kept_by_skip(level)
        }
    }

    /// Whether an offer at `level` (at least [`SKIP_FROM`]) that
    /// [`Ring::skip_at`] did not leave out is kept: the one a skip drawn at
    /// this level ends on is; else a skip is drawn, and the offer is kept
    /// if it is zero, else it is the first one left out.
    #[inline]
    fn kept_by_skip(&self, level: u32) -> bool {
        let slot = self.skip_slot(level);
        if slot.load(Ordering::Relaxed) == 1 {
            // The skip ran out: this is the offer it ended on. The next one
            // at this level draws afresh.
            slot.store(0, Ordering::Relaxed);
            return true;
        }
        match crate::sampling::skips_at_level(level) {
            0 => true,
            n => {
                slot.store(n, Ordering::Relaxed);
                false
            }
        }
    }
}
