//! Per-thread storage of the hot path.
//!
//! Each thread claims a shard for its lifetime: one of [`STATIC_SHARDS`]
//! built in, then one of up to [`EXTRA_SHARDS`] more allocated the first
//! time that many threads live at once (and reused afterwards). Only
//! threads beyond all of those share one overflow shard. A shard holds,
//! for every counter, a cell only its owner writes (a plain load + store,
//! no locked instruction, no cache line shared with another thread), and a
//! ring of distribution samples with one producer (the owner) and one
//! consumer (the flusher). Nothing here allocates after a thread's first
//! use of its shard, of a counter segment or of its ring, and nothing
//! takes a lock.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use crossbeam_queue::ArrayQueue;

use crate::ring::{self, Levels, Ring};

mod left_out;
mod samples;

pub(crate) use left_out::value as left_out_value;
#[cfg(test)]
pub(crate) use samples::push;
pub(crate) use samples::push_at;

/// Shards built in: the first this many live threads own one each.
pub(crate) const STATIC_SHARDS: usize = 64;
/// Shards allocated on demand for threads past [`STATIC_SHARDS`]; their
/// rings are smaller ([`crate::ring::SMALL_CAPACITY`] samples of 16 bytes),
/// so all of them hold at most 15 MiB of sample buffers, beside the 8 MiB
/// of the built-in shards' rings.
pub(crate) const EXTRA_SHARDS: usize = 960;
/// Counters per lazily allocated segment.
pub(crate) const SEGMENT: usize = 256;
/// Segments per shard: at most `SEGMENT * SEGMENTS` counters in a process.
pub(crate) const SEGMENTS: usize = 256;

type Segment = Box<[AtomicU64; SEGMENT]>;

// The hot path indexes segments and cells by one byte of the id each.
const _: () = assert!(SEGMENT == 256 && SEGMENTS == 256);

/// One shard: counter cells and a sample buffer.
#[derive(Debug)]
pub(crate) struct Shard {
    claimed: AtomicBool,
    counters: [OnceLock<Segment>; SEGMENTS],
    /// Samples the exclusive ring holds.
    ring_capacity: usize,
    /// Single-producer ring of an exclusive shard.
    ring: OnceLock<Ring>,
    /// Multi-producer queue of the shared overflow shard.
    shared: OnceLock<ArrayQueue<(u32, u64)>>,
    /// The highest thinning level offered in this shard since the flusher
    /// last ended an interval (see `ring`): written on the rare thinned
    /// pushes only.
    level_hi: AtomicU32,
    /// Per distribution series, a value of a sample this shard left out
    /// (see [`left_out`]), by segment as `counters`.
    left_out: [OnceLock<Segment>; SEGMENTS],
}

impl Shard {
    const fn new(ring_capacity: usize) -> Self {
        Shard {
            claimed: AtomicBool::new(false),
            counters: [const { OnceLock::new() }; SEGMENTS],
            ring_capacity,
            ring: OnceLock::new(),
            shared: OnceLock::new(),
            level_hi: AtomicU32::new(0),
            left_out: [const { OnceLock::new() }; SEGMENTS],
        }
    }

    /// Counter segment `seg`, allocated on its first use.
    fn segment(&self, seg: u8) -> &[AtomicU64; SEGMENT] {
        self.counters[usize::from(seg)]
            .get_or_init(|| Box::new([const { AtomicU64::new(0) }; SEGMENT]))
    }

    /// Counter `id`'s cell, its segment allocated on first use; `None` for
    /// an id past the shard's cells.
    #[inline]
    fn cell(&self, id: u32) -> Option<&AtomicU64> {
        let [off, seg, 0, 0] = id.to_le_bytes() else {
            return None;
        };
        Some(&self.segment(seg)[usize::from(off)])
    }

    /// The running total of counter `id` in this shard, without allocating.
    pub(crate) fn counter_total(&self, id: u32) -> u64 {
        let (seg, off) = (id as usize / SEGMENT, id as usize % SEGMENT);
        self.counters
            .get(seg)
            .and_then(OnceLock::get)
            .map_or(0, |s| s[off].load(Ordering::Relaxed))
    }

    /// Moves every buffered sample to `f` as (series id, levels, value)
    /// (called by the flusher only). Beside the sample's own level, the
    /// highest of every push offered to this shard in the interval so far,
    /// kept or not: the level the flusher thins the sample's series to
    /// must not depend on which offers were kept.
    pub(crate) fn drain(&self, f: &mut dyn FnMut(u32, Levels, f64)) {
        let hi = self.level_hi.load(Ordering::Acquire);
        let f = &mut |id: u32, own: u32, v: f64| {
            f(
                id,
                Levels {
                    own,
                    interval: own.max(hi),
                },
                v,
            )
        };
        if let Some(ring) = self.ring.get() {
            ring.drain(f);
        }
        if let Some(q) = self.shared.get() {
            while let Some((tagged, bits)) = q.pop() {
                f(
                    tagged & ring::ID_MASK,
                    tagged >> ring::LEVEL_SHIFT,
                    f64::from_bits(bits),
                );
            }
        }
    }

    /// Notes a push offered at `level` > 0.
    #[inline]
    fn note_level(&self, level: u32) {
        if level > self.level_hi.load(Ordering::Relaxed) {
            self.level_hi.fetch_max(level, Ordering::Release);
        }
    }

    /// Samples waiting in this shard.
    pub(crate) fn buffered(&self) -> usize {
        self.ring.get().map_or(0, Ring::len) + self.shared.get().map_or(0, ArrayQueue::len)
    }

    /// Takes the shard for the calling thread if no other thread holds it.
    fn try_claim(&self) -> bool {
        self.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
}

/// The built-in shards, then the overflow shard.
static SHARDS: [Shard; STATIC_SHARDS + 1] =
    [const { Shard::new(crate::ring::CAPACITY) }; STATIC_SHARDS + 1];
/// Shards allocated for threads past the built-in ones.
static EXTRA: [OnceLock<Box<Shard>>; EXTRA_SHARDS] = [const { OnceLock::new() }; EXTRA_SHARDS];
/// How many leading slots of [`EXTRA`] may hold a shard.
static EXTRA_LEN: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn overflow() -> &'static Shard {
    &SHARDS[STATIC_SHARDS]
}

/// Every shard, for the flusher. A thread's shard is listed here before
/// the thread can record into it.
pub(crate) fn all() -> impl Iterator<Item = &'static Shard> {
    let extra = EXTRA_LEN.load(Ordering::Acquire);
    SHARDS
        .iter()
        .chain(EXTRA[..extra].iter().filter_map(|s| s.get().map(|b| &**b)))
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
        let _ = OWN_SEGMENTS.try_with(|segments| segments.iter().for_each(|s| s.set(None)));
        let _ = OWN_RING.try_with(|r| r.set(None));
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
    /// The counter segments this thread has used in the shard it owns
    /// exclusively, by segment: the one thread-local read of a counter
    /// increment's fast path (2 KiB per thread). Filled on a segment's
    /// first use by the thread, emptied when it gives its shard back.
    static OWN_SEGMENTS: [Cell<Option<&'static [AtomicU64; SEGMENT]>>; SEGMENTS] =
        const { [const { Cell::new(None) }; SEGMENTS] };
    /// The ring of the shard this thread owns exclusively, once it has
    /// recorded a sample: a distribution record's one thread-local read
    /// (emptied when the thread gives its shard back).
    static OWN_RING: Cell<Option<(&'static Shard, &'static Ring)>> = const { Cell::new(None) };
    static CLAIM: Cell<Option<Claim>> = const { Cell::new(None) };
}

/// A free exclusive shard: a built-in one, else an extra one (allocated
/// the first time it is needed).
fn free_shard() -> Option<&'static Shard> {
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    let built_in = (0..STATIC_SHARDS)
        .map(|i| &SHARDS[(start + i) % STATIC_SHARDS])
        .find(|s| s.try_claim());
    if built_in.is_some() {
        return built_in;
    }
    EXTRA.iter().enumerate().find_map(|(i, slot)| {
        let shard: &'static Shard =
            slot.get_or_init(|| Box::new(Shard::new(crate::ring::SMALL_CAPACITY)));
        shard.try_claim().then(|| {
            // Listed for the flusher before the claiming thread can record
            // into it (once per claim, not once per slot scanned).
            EXTRA_LEN.fetch_max(i + 1, Ordering::AcqRel);
            shard
        })
    })
}

#[cold]
#[inline(never)]
fn claim() -> Current {
    let mut current = Current {
        shard: overflow(),
        exclusive: false,
    };
    if let Some(shard) = free_shard() {
        // Registers the release on thread exit; if the thread is already
        // exiting, give the shard back and share.
        if CLAIM.try_with(|c| c.set(Some(Claim(shard)))).is_ok() {
            current = Current {
                shard,
                exclusive: true,
            };
        } else {
            shard.claimed.store(false, Ordering::Release);
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

/// Adds `n` to counter `id` in the calling thread's shard. The fast path
/// is one thread-local read (the counter's segment, if this thread owns
/// its shard and has used the segment) and a plain add; everything else
/// (the thread's first use of a segment, a shared shard) is out of line.
#[inline]
pub(crate) fn add(id: u32, n: u64) {
    // Every id is below 2^16 (`registry::CAPACITY`): its low byte is the
    // cell, the next one the segment, and no index needs a check.
    debug_assert!((id as usize) < SEGMENT * SEGMENTS);
    let [off, seg, ..] = id.to_le_bytes();
    add_cell([off, seg], n);
}

/// [`add`] for the id's two low bytes, `[cell, segment]`, as a series
/// keeps them.
#[inline]
pub(crate) fn add_cell([off, seg]: [u8; 2], n: u64) {
    match own_cached(seg) {
        Some(cells) => {
            bump(&cells[usize::from(off)], n, true);
        }
        None => add_slow(off, seg, n),
    }
}

/// [`add`] when the fast path does not apply.
#[cold]
#[inline(never)]
fn add_slow(off: u8, seg: u8, n: u64) {
    with_shard(|shard, exclusive| {
        bump(
            &segment_for(shard, seg, exclusive)[usize::from(off)],
            n,
            exclusive,
        );
    });
}

/// Counter segment `seg` of the shard the calling thread owns, if the
/// thread has used it: the one thread-local read of a cell's fast path.
#[inline]
fn own_cached(seg: u8) -> Option<&'static [AtomicU64; SEGMENT]> {
    OWN_SEGMENTS
        .try_with(|segments| segments[usize::from(seg)].get())
        .ok()
        .flatten()
}

/// `shard`'s counter segment `seg`, allocated on its first use, and cached
/// for the calling thread when it owns the shard (`exclusive`).
#[cold]
#[inline(never)]
fn segment_for(shard: &'static Shard, seg: u8, exclusive: bool) -> &'static [AtomicU64; SEGMENT] {
    let cells = shard.segment(seg);
    if exclusive {
        let _ = OWN_SEGMENTS.try_with(|segments| segments[usize::from(seg)].set(Some(cells)));
    }
    cells
}

/// Ends a flush interval: the levels offered so far no longer apply to the
/// samples drained from now on (called by the flusher after a flush).
pub(crate) fn end_interval() {
    for s in all() {
        if s.level_hi.load(Ordering::Relaxed) != 0 {
            s.level_hi.swap(0, Ordering::AcqRel);
        }
    }
}

/// Adds `n` to `cell` and returns what it held: a plain load and store
/// when only this thread writes it (`exclusive`: its own shard), no locked
/// instruction; else an atomic add.
#[inline]
fn bump(cell: &AtomicU64, n: u64, exclusive: bool) -> u64 {
    if exclusive {
        let before = cell.load(Ordering::Relaxed);
        cell.store(before.wrapping_add(n), Ordering::Relaxed);
        before
    } else {
        cell.fetch_add(n, Ordering::Relaxed)
    }
}

/// The total of counter `id` over all shards (for a distribution: the
/// samples full buffers could not take).
pub(crate) fn total(id: u32) -> u64 {
    all().fold(0u64, |acc, s| acc.wrapping_add(s.counter_total(id)))
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;
