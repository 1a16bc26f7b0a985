//! A thread's distribution samples: into its own ring (or the shared
//! overflow queue), thinned at the source for a series recorded far more
//! often than it sends values, and, past 7/8 of the ring, thinned for
//! all; every sample left out is counted for its series.

use std::cell::Cell;

use crossbeam_queue::ArrayQueue;

use super::{bump, left_out, own_cached, segment_for, with_shard, Shard, OWN_RING};
use crate::ring::{self, Offer, Pushed, Ring};

/// Buffers one sample of distribution `id`, not thinned at the source.
#[cfg(test)]
pub(crate) fn push(id: u32, value: f64) -> bool {
    push_at(id, value, 0)
}

/// Buffers one sample of distribution `id` whose series is thinned at the
/// source to `level` (see `reservoir::source_level`; 0: not thinned).
/// Returns `true` when the flusher should be woken (the buffer is filling
/// up, or just got full).
#[inline(always)]
pub(crate) fn push_at(id: u32, value: f64, level: u32) -> bool {
    match OWN_RING.try_with(Cell::get).ok().flatten() {
        Some((shard, ring)) => push_at_ring(shard, ring, id, value, level),
        None => push_slow(id, value, level),
    }
}

/// [`push_at`] into the ring of the thread's own `shard`: at a level
/// above 0, the sample is kept with probability 2^-level and tagged with
/// it, else counted for its series (not for the thread's other series:
/// the level is not the shard's). An offer left out by the skip drawn at
/// its level is a decrement and a count, inline.
#[inline(always)]
fn push_at_ring(shard: &'static Shard, ring: &Ring, id: u32, value: f64, level: u32) -> bool {
    if level == 0 {
        push_into(shard, ring, id, value)
    } else if ring.skip_at(level) {
        count_skip(shard, id, value, true);
        false
    } else {
        push_at_drawn(shard, ring, id, value, level)
    }
}

/// [`push_at`] for an offer the skip at its level did not settle.
#[inline(never)]
fn push_at_drawn(shard: &'static Shard, ring: &Ring, id: u32, value: f64, level: u32) -> bool {
    if !ring.kept_at(level) {
        count_skip(shard, id, value, true);
        return false;
    }
    push_into(shard, ring, id | (level << ring::LEVEL_SHIFT), value)
}

/// [`push_at`] before the thread's first sample, or into a shared shard
/// (not thinned at the source: a level of 0 is always right).
#[cold]
#[inline(never)]
fn push_slow(id: u32, value: f64, level: u32) -> bool {
    with_shard(|shard, exclusive| {
        if exclusive {
            let ring = shard.ring.get_or_init(|| Ring::new(shard.ring_capacity));
            let _ = OWN_RING.try_with(|r| r.set(Some((shard, ring))));
            push_at_ring(shard, ring, id, value, level)
        } else {
            push_shared(shard, id, value)
        }
    })
}

/// One sample into the ring of the thread's own `shard` (`id` may carry
/// the level its source thinned it at).
#[inline]
fn push_into(shard: &'static Shard, ring: &Ring, id: u32, value: f64) -> bool {
    match ring.offer(id, value.to_bits()) {
        Offer::Stored { wake } => wake,
        Offer::Past { head, used } => push_past(shard, ring, id, value, head, used),
    }
}

/// A push past 7/8 of the ring, thinned or refused, and its account: one
/// out-of-line call. An offer the ring's drawn skip leaves out (nearly
/// every one when the flusher is far behind) is noted and counted here;
/// the rest is one more call.
#[cold]
#[inline(never)]
fn push_past(
    shard: &'static Shard,
    ring: &Ring,
    id: u32,
    value: f64,
    head: usize,
    used: usize,
) -> bool {
    if ring.is_full(used) {
        let pushed = ring.push_full();
        account_thinned(shard, id, value, pushed);
        return pushed.wake();
    }
    let level = ring.past_level(used);
    if ring.skip_at(level) {
        shard.note_level(level);
        count_skip(shard, id, value, true);
        return false;
    }
    push_past_drawn(shard, ring, id, value, head, used, level)
}

/// [`push_past`] for an offer the ring's skip did not settle.
#[inline(never)]
fn push_past_drawn(
    shard: &'static Shard,
    ring: &Ring,
    id: u32,
    value: f64,
    head: usize,
    used: usize,
    level: u32,
) -> bool {
    let pushed = ring.push_past_drawn(id, value.to_bits(), head, used, level);
    account_thinned(shard, id, value, pushed);
    pushed.wake()
}

/// Notes the level of a thinned or refused push, and counts the sample if
/// it was left out.
#[inline]
fn account_thinned(shard: &'static Shard, id: u32, value: f64, pushed: Pushed) {
    match pushed {
        Pushed::Ok { .. } => {}
        Pushed::Thinned { level, kept, .. } => {
            shard.note_level(level);
            if !kept {
                count_skip(shard, id, value, true);
            }
        }
        Pushed::Full { .. } => {
            shard.note_level(ring::TOP_LEVEL);
            count_skip(shard, id, value, true);
        }
    }
}

/// The shared overflow shard's queue, thinned by its length as a ring is
/// by its occupancy.
#[cold]
fn push_shared(shard: &'static Shard, id: u32, value: f64) -> bool {
    let q = shard.shared.get_or_init(|| ArrayQueue::new(ring::CAPACITY));
    let level = ring::level(q.len().min(ring::CAPACITY - 1), ring::CAPACITY);
    if level > 0 {
        shard.note_level(level);
        if !crate::sampling::keep_at_level(level) {
            count_skip(shard, id, value, false);
            return false;
        }
    }
    match q.push((id | (level << ring::LEVEL_SHIFT), value.to_bits())) {
        Ok(()) => q.len() == ring::CAPACITY / 4,
        Err(_) => {
            shard.note_level(ring::TOP_LEVEL);
            count_skip(shard, id, value, false);
            true
        }
    }
}

/// Counts, per series, a sample a buffer left out (thinned, or full), in
/// the series' cell of this shard (distributions have no other use for it):
/// the flusher turns these counts into the `|@rate` of the samples it
/// does send, so nothing recorded is lost without account. Every
/// [`left_out::EVERY`]th left-out sample of a series in a shard, its
/// first included, also leaves its value (see [`left_out`]), for a series
/// none of whose samples of an interval reached the flusher.
#[inline]
fn count_skip(shard: &'static Shard, id: u32, value: f64, exclusive: bool) {
    // The id may carry the level its source thinned it at.
    let id = id & ring::ID_MASK;
    let before = if exclusive {
        Some(bump_own(shard, id))
    } else {
        shard.cell(id).map(|cell| bump(cell, 1, false))
    };
    if before.is_some_and(|n| n % left_out::EVERY == 0) {
        left_out::remember(shard, id, value);
    }
}

/// Adds one to series `id`'s cell in the thread's own `shard` and returns
/// what it held: through the segments the thread caches, as a counter
/// increment's fast path.
#[inline]
fn bump_own(shard: &'static Shard, id: u32) -> u64 {
    // Every id is below 2^16 (`registry::CAPACITY`).
    debug_assert!((id as usize) < super::SEGMENT * super::SEGMENTS);
    let [off, seg, ..] = id.to_le_bytes();
    let cells = own_cached(seg).unwrap_or_else(|| segment_for(shard, seg, true));
    bump(&cells[usize::from(off)], 1, true)
}
