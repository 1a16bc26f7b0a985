//! A runtime-agnostic sleep for retry backoffs and attempt timeouts.
//!
//! Why not the runtime's own timer: `tokio::time::sleep` panics outside a
//! tokio runtime, and the facade is used from any executor (tokio,
//! async-std, smol, `futures::executor`). One lazily started thread
//! (`pt-retry-timer`) keeps the deadlines in a heap and wakes each sleeping
//! task at its deadline: no runtime thread ever blocks, and dropping a
//! [`Sleep`] cancels it. It only serves backoffs (rare, after a failure)
//! and attempt timeouts, never a hot path.
//!
//! The heap is bounded: it holds at most [`MAX_TIMERS`] deadlines. A
//! cancelled sleep's entry is dropped from the heap as soon as cancelled
//! entries are half of it (not kept until its deadline, which may be far:
//! an attempt timeout of an hour, cancelled a thousand times a second,
//! would otherwise keep 3.6 million entries). When the heap is full of
//! live sleeps, a new one is refused and counted
//! (`pipeline.stage.retry_timers_refused{stage}`): a refused backoff ends
//! at once (the retry goes ahead without waiting) and a refused attempt
//! timeout never fires (that attempt runs without its timeout).
//!
//! A process forked without exec starts a timer thread of its own on its
//! first sleep (a sleep registered before the fork does not fire in it).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicPtr, Ordering as AtomicOrdering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use pipeline_telemetry_catalogue::{self as catalogue, tags};
use pipeline_telemetry_dogstatsd::CounterHandle;

/// Most deadlines the retry timer keeps at once (about 3 MiB of heap).
pub(crate) const MAX_TIMERS: usize = 65_536;

/// Cancelled entries tolerated in a small heap before it is compacted.
const MIN_COMPACT: usize = 64;

/// What a sleeping task and the timer thread share.
#[derive(Default)]
struct Entry {
    /// (fired, the task to wake)
    state: Mutex<(bool, Option<Waker>)>,
}

struct Item {
    deadline: Instant,
    seq: u64,
    entry: Weak<Entry>,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.deadline, self.seq) == (o.deadline, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(o.deadline, o.seq))
    }
}

#[derive(Default)]
struct Heap {
    seq: u64,
    items: BinaryHeap<Reverse<Item>>,
    /// Entries of sleeps dropped before their deadline, still in `items`.
    cancelled: usize,
}

impl Heap {
    /// Drops the entries of cancelled sleeps.
    fn compact(&mut self) {
        self.items.retain(|i| i.0.entry.strong_count() > 0);
        self.cancelled = 0;
    }
}

struct Timer {
    heap: Mutex<Heap>,
    changed: Condvar,
    max: usize,
}

impl Timer {
    fn new(max: usize) -> Self {
        Timer {
            heap: Mutex::default(),
            changed: Condvar::new(),
            max,
        }
    }

    /// Keeps `entry` until `deadline`; `false` when the heap is full of
    /// live sleeps (the sleep is refused).
    fn register(&self, deadline: Instant, entry: &Arc<Entry>) -> bool {
        let mut g = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        if g.items.len() >= self.max {
            g.compact();
            if g.items.len() >= self.max {
                return false;
            }
        }
        let seq = g.seq;
        g.seq = g.seq.wrapping_add(1);
        let earliest = g.items.peek().is_none_or(|t| deadline < t.0.deadline);
        g.items.push(Reverse(Item {
            deadline,
            seq,
            entry: Arc::downgrade(entry),
        }));
        drop(g);
        if earliest {
            self.changed.notify_one();
        }
        true
    }

    /// A registered sleep was dropped before its deadline: its entry goes
    /// once cancelled entries are half the heap.
    fn cancelled(&self) {
        let mut g = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        g.cancelled += 1;
        if g.cancelled >= MIN_COMPACT && g.cancelled * 2 >= g.items.len() {
            g.compact();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .items
            .len()
    }

    fn run(&self) {
        let mut g = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let mut due = Vec::new();
        loop {
            let now = Instant::now();
            while g.items.peek().is_some_and(|t| t.0.deadline <= now) {
                if let Some(Reverse(item)) = g.items.pop() {
                    if let Some(e) = item.entry.upgrade() {
                        due.push(e);
                    }
                }
            }
            if !due.is_empty() {
                // Wake outside the heap's lock: a waker may run any code.
                drop(g);
                for e in due.drain(..) {
                    let mut s = e.state.lock().unwrap_or_else(PoisonError::into_inner);
                    s.0 = true;
                    if let Some(w) = s.1.take() {
                        drop(s);
                        w.wake();
                    }
                }
                g = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            g = match g.items.peek().map(|t| t.0.deadline) {
                Some(d) => {
                    let wait = d.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(g, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.changed.wait(g).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

/// One process's timer (`None`: its thread could not start).
struct Started {
    pid: u32,
    timer: Option<&'static Timer>,
}

/// The timer of this process, started on first use; `None` if its thread
/// could not start. A process forked without exec has a copy of the
/// parent's timer but not its thread (and maybe its heap's lock, taken at
/// the fork): it starts a timer of its own on first use, so that its
/// backoffs and timeouts fire. Lock-free, so that nothing held at a fork
/// can block the child here.
fn timer() -> Option<&'static Timer> {
    static CURRENT: AtomicPtr<Started> = AtomicPtr::new(std::ptr::null_mut());
    let pid = std::process::id();
    loop {
        let seen = CURRENT.load(AtomicOrdering::Acquire);
        // SAFETY: a non-null pointer here is a leaked `Started`, never freed.
        if let Some(started) = unsafe { seen.as_ref() } {
            if started.pid == pid {
                return started.timer;
            }
        }
        let started = Box::into_raw(Box::new(Started {
            pid,
            timer: start_timer(),
        }));
        if CURRENT
            .compare_exchange(
                seen,
                started,
                AtomicOrdering::AcqRel,
                AtomicOrdering::Acquire,
            )
            .is_ok()
        {
            // SAFETY: just published; leaked for good.
            return unsafe { &*started }.timer;
        }
        // Another thread started one first (a rare race on first use): its
        // timer serves; ours stays idle, waiting on an empty heap.
    }
}

/// A new timer and its thread.
fn start_timer() -> Option<&'static Timer> {
    let t: &'static Timer = Box::leak(Box::new(Timer::new(MAX_TIMERS)));
    match std::thread::Builder::new()
        .name("pt-retry-timer".into())
        .spawn(move || t.run())
    {
        Ok(_) => Some(t),
        Err(e) => {
            tracing::warn!(
                target: "pipeline_telemetry",
                error = %e,
                "cannot start the retry timer thread: async retries will not wait between attempts"
            );
            None
        }
    }
}

/// What a sleep does when the timer refuses it (its heap is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenRefused {
    /// Completes at once: a backoff that does not wait.
    Complete,
    /// Never completes: a timeout that does not fire.
    Never,
}

/// A future that completes after a delay, on any executor. Dropping it
/// cancels the sleep.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Sleep {
    deadline: Instant,
    entry: Option<Arc<Entry>>,
    /// The stage it waits for (the refusal counter's tag).
    stage: &'static str,
    when_refused: WhenRefused,
    refused: bool,
    /// `None`: the process's timer, started on first use.
    timer: Option<&'static Timer>,
}

/// Sleeps for `delay` without blocking the thread: a backoff of `stage`
/// (completes at once if the timer refuses it).
pub(crate) fn sleep(delay: Duration, stage: &'static str) -> Sleep {
    sleep_on(None, delay, stage, WhenRefused::Complete)
}

/// Completes after `delay`: an attempt timeout of `stage` (never completes
/// if the timer refuses it).
pub(crate) fn timeout(delay: Duration, stage: &'static str) -> Sleep {
    sleep_on(None, delay, stage, WhenRefused::Never)
}

fn sleep_on(
    timer: Option<&'static Timer>,
    delay: Duration,
    stage: &'static str,
    when_refused: WhenRefused,
) -> Sleep {
    let now = Instant::now();
    Sleep {
        // A delay past what `Instant` can hold waits a year (never a panic).
        deadline: now
            .checked_add(delay)
            .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
            .unwrap_or(now),
        entry: None,
        stage,
        when_refused,
        refused: false,
        timer,
    }
}

/// Counts a refused sleep, and says once what it means.
#[cold]
fn refused(stage: &'static str) {
    CounterHandle::register(
        catalogue::PIPELINE_STAGE_RETRY_TIMERS_REFUSED.name,
        &[(tags::STAGE, stage)],
    )
    .increment(1);
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            target: "pipeline_telemetry",
            max = MAX_TIMERS,
            "the retry timer is full: a backoff refused now retries at once, an attempt timeout refused does not apply (counted in pipeline.stage.retry_timers_refused)"
        );
    });
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        let fired = entry.state.lock().unwrap_or_else(PoisonError::into_inner).0;
        drop(entry);
        if !fired {
            if let Some(t) = self.timer.or_else(timer) {
                t.cancelled();
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if self.refused {
            return match self.when_refused {
                WhenRefused::Complete => Poll::Ready(()),
                WhenRefused::Never => Poll::Pending,
            };
        }
        let deadline = self.deadline;
        let entry = match &self.entry {
            Some(e) => e.clone(),
            None => {
                let Some(t) = self.timer.or_else(timer) else {
                    return Poll::Ready(());
                };
                let e = Arc::new(Entry::default());
                // The waker is in place before the timer can fire.
                e.state.lock().unwrap_or_else(PoisonError::into_inner).1 = Some(cx.waker().clone());
                if !t.register(deadline, &e) {
                    self.refused = true;
                    refused(self.stage);
                    return match self.when_refused {
                        WhenRefused::Complete => Poll::Ready(()),
                        WhenRefused::Never => Poll::Pending,
                    };
                }
                self.entry = Some(e);
                return Poll::Pending;
            }
        };
        let mut s = entry.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.0 {
            return Poll::Ready(());
        }
        match &s.1 {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.1 = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
#[path = "timer_tests.rs"]
mod tests;
