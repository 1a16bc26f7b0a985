//! A bounded single-producer, single-consumer ring of `(series id, value)`
//! samples: the owner thread pushes with plain stores and one release
//! store, the flusher drains. No locks, no allocation after creation.
//!
//! Everything the producer writes on every push (the head, whether the
//! ring is in a full spell, its thinning skip) sits on its own cache line,
//! and each sample is one 16-byte slot, so a push touches two lines the
//! producer owns.
//!
//! A push into a ring past 7/8 full (the flusher is behind) is *thinned*
//! (see [`thin`]): it is kept with probability
//! 2^-level and tagged with its level; the caller counts one left out for
//! its series (see `shard`), and the flusher thins every series to the
//! highest level of its interval, so every sample ends with the same
//! chance to be kept (see `reservoir`). Should the ring fill anyway, a push
//! stores nothing and is counted like a left-out one, and the flusher is
//! asked to wake once per full spell, not once per skipped sample.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

mod thin;

use thin::band_shift;
pub(crate) use thin::level;
#[cfg(test)]
pub(crate) use thin::SKIP_FROM;

/// Samples the ring of a built-in shard holds.
pub(crate) const CAPACITY: usize = 8192;
/// Samples the ring of a shard allocated past the built-in ones holds.
pub(crate) const SMALL_CAPACITY: usize = 1024;
/// Where a sample's level sits in its slot's id word (series ids are below
/// 2^16, levels below 64).
pub(crate) const LEVEL_SHIFT: u32 = 26;
/// The series-id bits of a slot's id word.
pub(crate) const ID_MASK: u32 = (1 << LEVEL_SHIFT) - 1;
/// The highest level of a push: that of a ring's last free slot. A push
/// into a full buffer counts at this level.
pub(crate) const TOP_LEVEL: u32 = 32;
/// Levels a sample can be tagged with (its level's bits in the id word).
pub(crate) const LEVELS: usize = 1 << (32 - LEVEL_SHIFT);
/// The smallest ring: 256 bands of at least one slot.
const MIN_CAPACITY: usize = 256;

/// The levels a drained sample was offered at: its own (it was kept with
/// probability 2^-own) and the highest offered in its shard this interval
/// so far (at least `own`), which its series must be thinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Levels {
    /// The sample's own level.
    pub(crate) own: u32,
    /// The highest level offered in the sample's shard this interval.
    pub(crate) interval: u32,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Buffered at level 0; `wake` when the flusher should be woken early
    /// (what [`Offer::Stored`] says outside tests).
    #[cfg_attr(not(test), allow(dead_code))]
    Ok { wake: bool },
    /// Offered at `level` > 0: buffered if `kept`, else left out (the
    /// caller counts it); `wake` on the first sample stored at a level.
    Thinned { level: u32, kept: bool, wake: bool },
    /// Not taken because the ring is full; `wake` the first time in a
    /// full spell.
    Full { wake: bool },
}

impl Pushed {
    /// Whether the flusher should be woken.
    #[inline]
    pub(crate) fn wake(self) -> bool {
        match self {
            Pushed::Ok { wake } | Pushed::Thinned { wake, .. } | Pushed::Full { wake } => wake,
        }
    }
}

/// What [`Ring::offer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Stored below 7/8; `wake` as in [`Pushed::Ok`].
    Stored { wake: bool },
    /// Not stored: the ring is 7/8 full or more, at these positions.
    Past { head: usize, used: usize },
}

/// The producer's side: written by the owner thread only.
#[derive(Debug)]
struct Producer {
    head: AtomicUsize,
    /// Whether the flusher was already woken in the current full spell.
    full: AtomicBool,
    /// Per level, the skip drawn at it (see [`thin`]): 0 when none is
    /// drawn, else one more than the offers at that level still to leave
    /// out before the next one kept.
    skips: [AtomicU64; LEVELS],
}

/// The consumer's side: written by the flusher only.
#[derive(Debug)]
struct Consumer {
    tail: AtomicUsize,
}

#[derive(Debug)]
struct Slot {
    id: AtomicU32,
    bits: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct Ring {
    producer: CachePadded<Producer>,
    consumer: CachePadded<Consumer>,
    /// Capacity - 1 (the capacity is a power of two).
    mask: usize,
    /// 7/8 of the capacity: where thinning by room starts.
    thin_from: usize,
    /// log2 of the slots per level past `thin_from`.
    band_shift: u32,
    slots: Box<[Slot]>,
}

impl Ring {
    /// A ring of `capacity` samples, rounded up to a power of two (at
    /// least 256).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(MIN_CAPACITY).next_power_of_two();
        Ring {
            producer: CachePadded::new(Producer {
                head: AtomicUsize::new(0),
                full: AtomicBool::new(false),
                skips: [const { AtomicU64::new(0) }; LEVELS],
            }),
            consumer: CachePadded::new(Consumer {
                tail: AtomicUsize::new(0),
            }),
            mask: capacity - 1,
            thin_from: capacity - capacity / 8,
            band_shift: band_shift(capacity),
            slots: (0..capacity)
                .map(|_| Slot {
                    id: AtomicU32::new(0),
                    bits: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Pushes a sample of series `id` (below 2^16) (producer only). The
    /// shard calls [`Ring::offer`] and the parts of a push past 7/8
    /// itself; this is all of it in one, for tests.
    #[cfg(test)]
    pub(crate) fn push(&self, id: u32, bits: u64) -> Pushed {
        match self.offer(id, bits) {
            Offer::Stored { wake } => Pushed::Ok { wake },
            Offer::Past { head, used } => self.push_past(id, bits, head, used),
        }
    }

    /// [`Ring::push`]'s common case: the sample is stored if the ring is
    /// below 7/8 full, else what the rest needs is returned, so that the
    /// caller makes one out-of-line call for it.
    #[inline]
    pub(crate) fn offer(&self, id: u32, bits: u64) -> Offer {
        let head = self.producer.head.load(Ordering::Relaxed);
        let used = head.wrapping_sub(self.consumer.tail.load(Ordering::Acquire));
        if used >= self.thin_from {
            return Offer::Past { head, used };
        }
        self.store(head, id, bits);
        Offer::Stored {
            wake: used + 1 == (self.mask + 1) / 4,
        }
    }

    /// Whether a ring holding `used` samples is full.
    #[inline]
    pub(crate) fn is_full(&self, used: usize) -> bool {
        used > self.mask
    }

    #[inline]
    fn store(&self, head: usize, tagged: u32, bits: u64) {
        let slot = &self.slots[head & self.mask];
        slot.id.store(tagged, Ordering::Relaxed);
        slot.bits.store(bits, Ordering::Relaxed);
        self.producer
            .head
            .store(head.wrapping_add(1), Ordering::Release);
    }

    /// A push into a full ring: nothing stored.
    #[inline]
    pub(crate) fn push_full(&self) -> Pushed {
        // Only the producer writes the flag: a load and a store, no
        // locked instruction.
        let p = &*self.producer;
        let first = !p.full.load(Ordering::Relaxed);
        if first {
            p.full.store(true, Ordering::Relaxed);
            // The next thinned push draws afresh, and so ends the spell.
            p.skips.iter().for_each(|s| s.store(0, Ordering::Relaxed));
        }
        Pushed::Full { wake: first }
    }

    /// Hands every sample to `f` as (series id, its own level, value)
    /// (consumer only).
    pub(crate) fn drain(&self, f: &mut dyn FnMut(u32, u32, f64)) {
        let tail = self.consumer.tail.load(Ordering::Relaxed);
        let head = self.producer.head.load(Ordering::Acquire);
        let mut i = tail;
        while i != head {
            let slot = &self.slots[i & self.mask];
            let tagged = slot.id.load(Ordering::Relaxed);
            let v = f64::from_bits(slot.bits.load(Ordering::Relaxed));
            f(tagged & ID_MASK, tagged >> LEVEL_SHIFT, v);
            i = i.wrapping_add(1);
        }
        self.consumer.tail.store(head, Ordering::Release);
    }

    /// Samples waiting.
    pub(crate) fn len(&self) -> usize {
        self.producer
            .head
            .load(Ordering::Acquire)
            .wrapping_sub(self.consumer.tail.load(Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests;
