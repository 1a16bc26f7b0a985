//! Points with explicit timestamps (`|T<unix>`, protocol 1.3) for late
//! data. They are not aggregated: each is sent as it was recorded. A
//! bounded queue; points that do not fit are dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use crossbeam_queue::ArrayQueue;

/// Timestamped points buffered between two flushes at most.
pub const TIMED_CAPACITY: usize = 16_384;

#[derive(Debug, Clone, Copy)]
pub(crate) struct TimedPoint {
    pub(crate) id: u32,
    pub(crate) value: f64,
    pub(crate) timestamp: u64,
}

static QUEUE: LazyLock<ArrayQueue<TimedPoint>> = LazyLock::new(|| ArrayQueue::new(TIMED_CAPACITY));
static DROPPED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn push(p: TimedPoint) {
    if QUEUE.push(p).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

pub(crate) fn pop() -> Option<TimedPoint> {
    QUEUE.pop()
}

pub(crate) fn take_dropped() -> u64 {
    DROPPED.swap(0, Ordering::Relaxed)
}
