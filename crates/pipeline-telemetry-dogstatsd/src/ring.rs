//! A bounded single-producer, single-consumer ring of `(series id, value)`
//! samples: the owner thread pushes with plain stores and one release
//! store, the flusher drains. No locks, no allocation after creation.
//!
//! Everything the producer writes on every push (the head, whether the
//! ring is in a full spell) sits on its own cache line, and each sample is
//! one 16-byte slot, so a push touches two lines the producer owns.
//!
//! **Thinning.** Below 7/8 of its capacity the ring takes every sample
//! (level 0: the only path a flusher that keeps up ever sees). Past it,
//! each band of 1/256 of the capacity raises the *level* by one, and a
//! push at level `l` stores the sample with probability 2^-l, tagged with
//! `l` (see [`level`]); the caller counts a sample left out for its series
//! (see `shard`), and the flusher thins every series to the highest level
//! of its interval, so every sample ends with the same chance to be kept
//! (see `reservoir`). Filling the last eighth takes about 2^28 times its
//! size in pushes (2^35 pushes for the smallest ring), so a ring whose
//! flusher is stalled keeps taking an ever smaller share of the samples
//! instead of filling up. Should it fill
//! anyway, a push stores nothing and is counted like a left-out one, and
//! the flusher is asked to wake once per full spell, not once per skipped
//! sample.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

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
/// The smallest ring: 256 bands of at least one slot.
const MIN_CAPACITY: usize = 256;

/// The thinning level of a push into a buffer of `capacity` (a power of two
/// of at least 256) that holds `used` samples: 0 below 7/8 of the
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
const fn band_shift(capacity: usize) -> u32 {
    capacity.trailing_zeros() - 8
}

/// The level `past` slots into the last eighth (a shift: no division on
/// the producer's path).
#[inline]
fn level_past(past: usize, band_shift: u32) -> u32 {
    1 + (past >> band_shift) as u32
}

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
    /// 7/8 of the capacity: where thinning starts.
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
    /// shard calls [`Ring::offer`] and [`Ring::push_past`] itself; this is
    /// both in one, for tests.
    #[cfg(test)]
    pub(crate) fn push(&self, id: u32, bits: u64) -> Pushed {
        match self.offer(id, bits) {
            Offer::Stored { wake } => Pushed::Ok { wake },
            Offer::Past { head, used } => self.push_past(id, bits, head, used),
        }
    }

    /// [`Ring::push`]'s common case: the sample is stored if the ring is
    /// below 7/8 full, else what [`Ring::push_past`] needs is returned, so
    /// that the caller makes one out-of-line call for the rest.
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

    /// A push past 7/8 of the ring (the flusher is behind): thinned, or
    /// refused when full.
    #[inline]
    pub(crate) fn push_past(&self, id: u32, bits: u64, head: usize, used: usize) -> Pushed {
        if used > self.mask {
            self.push_full()
        } else {
            self.push_thinned(id, bits, head, used)
        }
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
    fn push_full(&self) -> Pushed {
        // Only the producer writes the flag: a load and a store, no
        // locked instruction.
        let p = &*self.producer;
        let first = !p.full.load(Ordering::Relaxed);
        if first {
            p.full.store(true, Ordering::Relaxed);
        }
        Pushed::Full { wake: first }
    }

    /// A push into the last eighth of the ring.
    #[inline]
    fn push_thinned(&self, id: u32, bits: u64, head: usize, used: usize) -> Pushed {
        let p = &*self.producer;
        // Reaching the last eighth means passing here: the full spell ends.
        if p.full.load(Ordering::Relaxed) {
            p.full.store(false, Ordering::Relaxed);
        }
        let past = used - self.thin_from;
        let level = level_past(past, self.band_shift);
        let kept = crate::sampling::keep_at_level(level);
        if kept {
            self.store(head, id | (level << LEVEL_SHIFT), bits);
        }
        Pushed::Thinned {
            level,
            kept,
            // The first sample stored at each level.
            wake: kept && past & ((1 << self.band_shift) - 1) == 0,
        }
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
mod tests {
    use super::*;

    #[test]
    fn levels_rise_by_band_in_the_last_eighth() {
        assert_eq!(level(0, 8192), 0);
        assert_eq!(level(7167, 8192), 0);
        assert_eq!(level(7168, 8192), 1);
        assert_eq!(level(7168 + 31, 8192), 1);
        assert_eq!(level(7168 + 32, 8192), 2);
        assert_eq!(level(8191, 8192), 32);
        assert_eq!(level(895, 1024), 0);
        assert_eq!(level(896 + 4, 1024), 2);
        assert_eq!(level(1023, 1024), 32);
    }

    #[test]
    fn fills_thins_and_reports_full() {
        for capacity in [CAPACITY, SMALL_CAPACITY] {
            fills_thins_and_reports_full_at(capacity);
        }
    }

    fn fills_thins_and_reports_full_at(capacity: usize) {
        let r = Ring::new(capacity);
        let thin_from = capacity - capacity / 8;
        for round in 0..3u32 {
            for i in 0..thin_from as u32 {
                let pushed = r.push(i, u64::from(round));
                assert_eq!(
                    pushed,
                    Pushed::Ok {
                        wake: i as usize + 1 == capacity / 4
                    }
                );
            }
            // Past 7/8 a push is kept with probability 2^-level: fill the
            // rest by offering until stored (levels reach 32, so the last
            // slots are forced in with stores below the producer's API).
            let mut offered_at_1 = 0u32;
            while r.len() < thin_from + capacity / 256 {
                match r.push(7, u64::from(round)) {
                    Pushed::Thinned { level: 1, .. } => offered_at_1 += 1,
                    other => panic!("{other:?}"),
                }
            }
            assert!(offered_at_1 >= (capacity / 256) as u32);
            let head = r.producer.head.load(Ordering::Relaxed);
            for k in 0..capacity - r.len() {
                r.store(head + k, 9, u64::from(round));
            }
            // Full: the flusher is woken once per full spell.
            assert_eq!(r.push(0, 0), Pushed::Full { wake: true });
            assert_eq!(r.push(0, 0), Pushed::Full { wake: false });
            assert_eq!(r.len(), capacity);
            let mut n = 0usize;
            r.drain(&mut |id, level, v| {
                assert_eq!(v, f64::from_bits(u64::from(round)));
                if n < thin_from {
                    assert_eq!((id, level), (n as u32, 0));
                } else if n < thin_from + capacity / 256 {
                    assert_eq!((id, level), (7, 1));
                } else {
                    assert_eq!(id, 9);
                }
                n += 1;
            });
            assert_eq!(n, capacity);
        }
    }

    #[test]
    fn concurrent_producer_and_consumer_lose_nothing() {
        let r = std::sync::Arc::new(Ring::new(SMALL_CAPACITY));
        let p = r.clone();
        let producer = std::thread::spawn(move || {
            let mut sent = 0u64;
            let mut i = 0u32;
            while i < 200_000 {
                let id = i & 0xFFFF;
                match p.push(id, u64::from(i)) {
                    Pushed::Ok { .. } | Pushed::Thinned { kept: true, .. } => {
                        sent += u64::from(i);
                        i += 1;
                    }
                    _ => {}
                }
            }
            sent
        });
        let mut got = 0u64;
        let mut n = 0;
        while n < 200_000 {
            r.drain(&mut |id, _, v| {
                assert_eq!(v.to_bits() & 0xFFFF, u64::from(id));
                got += v.to_bits();
                n += 1;
            });
        }
        assert_eq!(producer.join().expect("producer"), got);
    }
}
