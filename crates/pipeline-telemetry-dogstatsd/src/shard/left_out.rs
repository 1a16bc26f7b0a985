//! A value for the samples a series left out.
//!
//! A buffer past 7/8 full leaves samples out and counts them for their
//! series (see `ring`); the flusher spreads those counts over the values it
//! sends. A series none of whose samples of an interval reached the
//! flusher (a one-off series recorded while its thread's ring was thinning
//! hard) would then have no value to carry its count, and the count would
//! wait, unsent, for a sample that might never come. So a shard keeps, per
//! series, the value of one of its left-out samples: the first, then every
//! [`EVERY`]th (a compare on the left-out path, and a store on one of
//! `EVERY` of them). The flusher sends it, weighted by the count, for a
//! series with samples left out and none drained.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use super::{all, Shard, SEGMENT};

/// A series keeps the value of one of every `EVERY` samples a shard
/// leaves out of it.
pub(super) const EVERY: u64 = 64;

/// A cell that holds no value yet (a NaN no recorded value is stored as).
const NONE: u64 = 0x7FF8_0000_DEAD_BEEF;

impl Shard {
    /// The left-out values' segment `seg`, if allocated.
    fn left_out_segment(&self, seg: usize) -> Option<&[AtomicU64; SEGMENT]> {
        self.left_out.get(seg).and_then(OnceLock::get).map(|s| &**s)
    }
}

/// Keeps `value` as series `id`'s left-out value in `shard` (its segment
/// allocated on first use, as a counter segment is).
#[cold]
#[inline(never)]
pub(super) fn remember(shard: &Shard, id: u32, value: f64) {
    let (seg, off) = (id as usize / SEGMENT, id as usize % SEGMENT);
    let Some(cells) = shard.left_out.get(seg) else {
        return;
    };
    let cells = cells.get_or_init(|| Box::new([const { AtomicU64::new(NONE) }; SEGMENT]));
    let bits = match value.to_bits() {
        NONE => f64::NAN.to_bits(),
        bits => bits,
    };
    cells[off].store(bits, Ordering::Relaxed);
}

/// A value one of series `id`'s left-out samples had, from any shard
/// (called by the flusher); `None` if no shard kept one yet.
pub(crate) fn value(id: u32) -> Option<f64> {
    let (seg, off) = (id as usize / SEGMENT, id as usize % SEGMENT);
    all()
        .filter_map(|s| s.left_out_segment(seg))
        .map(|cells| cells[off].load(Ordering::Relaxed))
        .find(|&bits| bits != NONE)
        .map(f64::from_bits)
}
