//! Per-thread storage of the hot path.
//!
//! Each thread claims one of [`EXCLUSIVE_SHARDS`] shards for its lifetime
//! (threads beyond that share one overflow shard). A shard holds, for every
//! counter, a cell only its owner writes (a plain load + store, no locked
//! instruction, no cache line shared with another thread), and a ring of
//! distribution samples with one producer (the owner) and one consumer (the
//! flusher). Nothing here allocates after a thread's first use of a
//! counter segment or of its ring, and nothing takes a lock.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crossbeam_queue::ArrayQueue;

use crate::ring::{Pushed, Ring};

/// How many threads can own a shard at once; more threads share one.
pub(crate) const EXCLUSIVE_SHARDS: usize = 64;
/// Counters per lazily allocated segment.
pub(crate) const SEGMENT: usize = 256;
/// Segments per shard: at most `SEGMENT * SEGMENTS` counters in a process.
pub(crate) const SEGMENTS: usize = 256;

type Segment = Box<[AtomicU64; SEGMENT]>;

/// One shard: counter cells and a sample buffer.
#[derive(Debug)]
pub(crate) struct Shard {
    claimed: AtomicBool,
    counters: [OnceLock<Segment>; SEGMENTS],
    /// Single-producer ring of an exclusive shard.
    ring: OnceLock<Ring>,
    /// Multi-producer queue of the shared overflow shard.
    shared: OnceLock<ArrayQueue<(u32, u64)>>,
    /// Samples dropped because the shared queue was full (the exclusive
    /// ring counts its own).
    dropped: AtomicU64,
}

impl Shard {
    const fn new() -> Self {
        Shard {
            claimed: AtomicBool::new(false),
            counters: [const { OnceLock::new() }; SEGMENTS],
            ring: OnceLock::new(),
            shared: OnceLock::new(),
            dropped: AtomicU64::new(0),
        }
    }

    #[inline]
    fn cell(&self, id: u32) -> Option<&AtomicU64> {
        let (seg, off) = (id as usize / SEGMENT, id as usize % SEGMENT);
        let seg = self.counters.get(seg)?;
        Some(&seg.get_or_init(|| Box::new([const { AtomicU64::new(0) }; SEGMENT]))[off])
    }

    /// The running total of counter `id` in this shard, without allocating.
    pub(crate) fn counter_total(&self, id: u32) -> u64 {
        let (seg, off) = (id as usize / SEGMENT, id as usize % SEGMENT);
        self.counters
            .get(seg)
            .and_then(OnceLock::get)
            .map_or(0, |s| s[off].load(Ordering::Relaxed))
    }

    /// Moves every buffered sample to `f` (called by the flusher only).
    pub(crate) fn drain(&self, f: &mut dyn FnMut(u32, f64)) {
        if let Some(ring) = self.ring.get() {
            ring.drain(f);
        }
        if let Some(q) = self.shared.get() {
            while let Some((id, bits)) = q.pop() {
                f(id, f64::from_bits(bits));
            }
        }
    }

    /// Samples dropped since the last call.
    pub(crate) fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed) + self.ring.get().map_or(0, Ring::take_dropped)
    }

    /// Samples waiting in this shard.
    pub(crate) fn buffered(&self) -> usize {
        self.ring.get().map_or(0, Ring::len) + self.shared.get().map_or(0, ArrayQueue::len)
    }
}

static SHARDS: [Shard; EXCLUSIVE_SHARDS + 1] = [const { Shard::new() }; EXCLUSIVE_SHARDS + 1];
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn overflow() -> &'static Shard {
    &SHARDS[EXCLUSIVE_SHARDS]
}

/// Every shard, for the flusher.
pub(crate) fn all() -> &'static [Shard] {
    &SHARDS
}

/// The calling thread's shard, read on every hot-path call. The type has
/// no destructor, so reading it is a plain thread-local load that works
/// even while the thread is being torn down.
#[derive(Clone, Copy)]
struct Current {
    shard: &'static Shard,
    exclusive: bool,
}

/// Releases an exclusive shard when its thread exits, and points the
/// thread's [`CURRENT`] at the shared overflow shard for whatever the
/// thread's other destructors still record.
struct Claim(&'static Shard);

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|c| {
            c.set(Some(Current {
                shard: overflow(),
                exclusive: false,
            }))
        });
        self.0.claimed.store(false, Ordering::Release);
    }
}

thread_local! {
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
    static CLAIM: Cell<Option<Claim>> = const { Cell::new(None) };
}

#[cold]
#[inline(never)]
fn claim() -> Current {
    let shared = Current {
        shard: overflow(),
        exclusive: false,
    };
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut current = shared;
    for i in 0..EXCLUSIVE_SHARDS {
        let shard = &SHARDS[(start + i) % EXCLUSIVE_SHARDS];
        if shard
            .claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // Registers the release on thread exit; if the thread is
            // already exiting, give the shard back and share.
            if CLAIM.try_with(|c| c.set(Some(Claim(shard)))).is_ok() {
                current = Current {
                    shard,
                    exclusive: true,
                };
            } else {
                shard.claimed.store(false, Ordering::Release);
            }
            break;
        }
    }
    let _ = CURRENT.try_with(|c| c.set(Some(current)));
    current
}

#[inline]
fn with_shard<R>(f: impl FnOnce(&'static Shard, bool) -> R) -> R {
    let current = CURRENT
        .try_with(Cell::get)
        .ok()
        .flatten()
        .unwrap_or_else(claim);
    f(current.shard, current.exclusive)
}

/// Adds `n` to counter `id` in the calling thread's shard.
#[inline]
pub(crate) fn add(id: u32, n: u64) {
    with_shard(|shard, exclusive| {
        if let Some(cell) = shard.cell(id) {
            if exclusive {
                // Only this thread writes this cell: no locked instruction.
                cell.store(
                    cell.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            } else {
                cell.fetch_add(n, Ordering::Relaxed);
            }
        }
    })
}

/// Buffers one sample of distribution `id`. Returns `true` when the
/// flusher should be woken (the buffer is filling up, or just got full).
#[inline]
pub(crate) fn push(id: u32, value: f64) -> bool {
    with_shard(|shard, exclusive| {
        if exclusive {
            let pushed = shard.ring.get_or_init(Ring::new).push(id, value.to_bits());
            if let Pushed::Full { .. } = pushed {
                count_skip(shard, id, true);
            }
            pushed.wake()
        } else {
            push_shared(shard, id, value)
        }
    })
}

#[cold]
fn push_shared(shard: &Shard, id: u32, value: f64) -> bool {
    let q = shard
        .shared
        .get_or_init(|| ArrayQueue::new(crate::ring::CAPACITY));
    match q.push((id, value.to_bits())) {
        Ok(()) => q.len() == crate::ring::CAPACITY / 4,
        Err(_) => {
            shard.dropped.fetch_add(1, Ordering::Relaxed);
            count_skip(shard, id, false);
            true
        }
    }
}

/// Counts, per series, a sample a full buffer could not take, in the
/// series' cell of this shard (distributions have no other use for it):
/// the flusher turns these counts into the `|@rate` of the samples it
/// does send, so nothing recorded is lost without account.
#[cold]
fn count_skip(shard: &Shard, id: u32, exclusive: bool) {
    if let Some(cell) = shard.cell(id) {
        if exclusive {
            cell.store(
                cell.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
        } else {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The total of counter `id` over all shards (for a distribution: the
/// samples full buffers could not take).
pub(crate) fn total(id: u32) -> u64 {
    SHARDS
        .iter()
        .fold(0u64, |acc, s| acc.wrapping_add(s.counter_total(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_their_own_shards_and_totals_add_up() {
        let id = 4242;
        let handles: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(move || (0..1000).for_each(|_| add(id, 2))))
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(total(id), 8000);
    }

    #[test]
    fn samples_come_back_from_drain() {
        std::thread::spawn(|| {
            push(7, 1.5);
            push(7, 2.5);
        })
        .join()
        .expect("thread");
        let mut got = Vec::new();
        for s in all() {
            s.drain(&mut |id, v| {
                if id == 7 {
                    got.push(v)
                }
            });
        }
        got.sort_by(f64::total_cmp);
        assert_eq!(got, vec![1.5, 2.5]);
    }
}
