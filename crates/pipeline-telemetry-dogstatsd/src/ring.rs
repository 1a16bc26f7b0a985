//! A bounded single-producer, single-consumer ring of `(series id, value)`
//! samples: the owner thread pushes with plain stores and one release
//! store, the flusher drains. No locks, no allocation after creation.
//!
//! Everything the producer writes on every push (the head, whether the
//! ring is in a full spell) sits on its own cache line, and each sample is
//! one 16-byte slot, so a push touches two lines the producer owns. When
//! the ring is full a push stores nothing in it: the caller counts the
//! skip for its series (see `shard`), and the flusher is asked to wake
//! once per full spell, not once per skipped sample.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

/// Samples the ring of a built-in shard holds.
pub(crate) const CAPACITY: usize = 8192;
/// Samples the ring of a shard allocated past the built-in ones holds.
pub(crate) const SMALL_CAPACITY: usize = 1024;

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Buffered; `wake` when the flusher should be woken early.
    Ok { wake: bool },
    /// Not taken because the ring is full; `wake` the first time in a
    /// full spell.
    Full { wake: bool },
}

impl Pushed {
    /// Whether the flusher should be woken.
    #[inline]
    pub(crate) fn wake(self) -> bool {
        match self {
            Pushed::Ok { wake } | Pushed::Full { wake } => wake,
        }
    }
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
    slots: Box<[Slot]>,
}

impl Ring {
    /// A ring of `capacity` samples, rounded up to a power of two.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(4).next_power_of_two();
        Ring {
            producer: CachePadded::new(Producer {
                head: AtomicUsize::new(0),
                full: AtomicBool::new(false),
            }),
            consumer: CachePadded::new(Consumer {
                tail: AtomicUsize::new(0),
            }),
            mask: capacity - 1,
            slots: (0..capacity)
                .map(|_| Slot {
                    id: AtomicU32::new(0),
                    bits: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Pushes a sample (producer only).
    #[inline]
    pub(crate) fn push(&self, id: u32, bits: u64) -> Pushed {
        let p = &*self.producer;
        let head = p.head.load(Ordering::Relaxed);
        let used = head.wrapping_sub(self.consumer.tail.load(Ordering::Acquire));
        if used > self.mask {
            // Only the producer writes the flag: a load and a store, no
            // locked instruction.
            let first = !p.full.load(Ordering::Relaxed);
            if first {
                p.full.store(true, Ordering::Relaxed);
            }
            return Pushed::Full { wake: first };
        }
        let slot = &self.slots[head & self.mask];
        slot.id.store(id, Ordering::Relaxed);
        slot.bits.store(bits, Ordering::Relaxed);
        p.head.store(head.wrapping_add(1), Ordering::Release);
        if p.full.load(Ordering::Relaxed) {
            p.full.store(false, Ordering::Relaxed);
        }
        Pushed::Ok {
            wake: used + 1 == (self.mask + 1) / 4,
        }
    }

    /// Hands every sample to `f` (consumer only).
    pub(crate) fn drain(&self, f: &mut dyn FnMut(u32, f64)) {
        let tail = self.consumer.tail.load(Ordering::Relaxed);
        let head = self.producer.head.load(Ordering::Acquire);
        let mut i = tail;
        while i != head {
            let slot = &self.slots[i & self.mask];
            let id = slot.id.load(Ordering::Relaxed);
            let v = f64::from_bits(slot.bits.load(Ordering::Relaxed));
            f(id, v);
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
    fn fills_wraps_and_reports_full() {
        for capacity in [CAPACITY, SMALL_CAPACITY] {
            fills_wraps_and_reports_full_at(capacity);
        }
    }

    fn fills_wraps_and_reports_full_at(capacity: usize) {
        let r = Ring::new(capacity);
        for round in 0..3u32 {
            for i in 0..capacity as u32 {
                let pushed = r.push(i, u64::from(round));
                assert_eq!(
                    pushed,
                    Pushed::Ok {
                        wake: i as usize + 1 == capacity / 4
                    }
                );
            }
            // Full: the flusher is woken once per full spell.
            assert_eq!(r.push(0, 0), Pushed::Full { wake: true });
            assert_eq!(r.push(0, 0), Pushed::Full { wake: false });
            assert_eq!(r.len(), capacity);
            let mut n = 0;
            r.drain(&mut |id, v| {
                assert_eq!(id, n);
                assert_eq!(v, f64::from_bits(u64::from(round)));
                n += 1;
            });
            assert_eq!(n as usize, capacity);
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
                if let Pushed::Ok { .. } = p.push(i, u64::from(i)) {
                    sent += u64::from(i);
                    i += 1;
                }
            }
            sent
        });
        let mut got = 0u64;
        let mut n = 0;
        while n < 200_000 {
            r.drain(&mut |id, v| {
                assert_eq!(v.to_bits(), u64::from(id));
                got += u64::from(id);
                n += 1;
            });
        }
        assert_eq!(producer.join().expect("producer"), got);
    }
}
