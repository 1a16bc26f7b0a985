//! A runtime-agnostic sleep for retry backoffs and attempt timeouts.
//!
//! Why not the runtime's own timer: `tokio::time::sleep` panics outside a
//! tokio runtime, and the facade is used from any executor (tokio,
//! async-std, smol, `futures::executor`). One lazily started thread
//! (`pt-retry-timer`) keeps the deadlines in a heap and wakes each sleeping
//! task at its deadline: no runtime thread ever blocks, and dropping a
//! [`Sleep`] cancels it (the thread forgets it at its deadline). It only
//! serves backoffs (rare, after a failure), never a hot path.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

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
struct Timer {
    heap: Mutex<(u64, BinaryHeap<Reverse<Item>>)>,
    changed: Condvar,
}

impl Timer {
    fn register(&self, deadline: Instant, entry: &Arc<Entry>) {
        let mut g = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = g.0;
        g.0 = g.0.wrapping_add(1);
        let earliest = g.1.peek().map_or(true, |t| deadline < t.0.deadline);
        g.1.push(Reverse(Item {
            deadline,
            seq,
            entry: Arc::downgrade(entry),
        }));
        drop(g);
        if earliest {
            self.changed.notify_one();
        }
    }

    fn run(&self) {
        let mut g = self.heap.lock().unwrap_or_else(PoisonError::into_inner);
        let mut due = Vec::new();
        loop {
            let now = Instant::now();
            while g.1.peek().is_some_and(|t| t.0.deadline <= now) {
                if let Some(Reverse(item)) = g.1.pop() {
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
            g = match g.1.peek().map(|t| t.0.deadline) {
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

/// The timer, started on first use; `None` if its thread could not start.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::default());
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
    })
}

/// A future that completes after a delay, on any executor. Dropping it
/// cancels the sleep.
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Sleep {
    deadline: Instant,
    entry: Option<Arc<Entry>>,
}

/// Sleeps for `delay` without blocking the thread.
pub(crate) fn sleep(delay: Duration) -> Sleep {
    let now = Instant::now();
    Sleep {
        // A delay past what `Instant` can hold waits a year (never a panic).
        deadline: now
            .checked_add(delay)
            .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
            .unwrap_or(now),
        entry: None,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let entry = match &self.entry {
            Some(e) => e.clone(),
            None => {
                let Some(t) = timer() else {
                    return Poll::Ready(());
                };
                let e = Arc::new(Entry::default());
                // The waker is in place before the timer can fire.
                e.state.lock().unwrap_or_else(PoisonError::into_inner).1 = Some(cx.waker().clone());
                t.register(deadline, &e);
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
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::mpsc::Sender<()>);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            let _ = self.0.send(());
        }
    }

    #[test]
    fn wakes_at_the_deadline_and_not_before() {
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = Waker::from(Arc::new(Flag(tx)));
        let mut cx = Context::from_waker(&waker);
        let started = Instant::now();
        let mut s = sleep(Duration::from_millis(30));
        assert!(Pin::new(&mut s).poll(&mut cx).is_pending());
        rx.recv_timeout(Duration::from_secs(10)).expect("woken");
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert!(Pin::new(&mut s).poll(&mut cx).is_ready());
    }

    #[test]
    fn a_dropped_sleep_never_wakes() {
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = Waker::from(Arc::new(Flag(tx)));
        let mut cx = Context::from_waker(&waker);
        let mut s = sleep(Duration::from_millis(10));
        assert!(Pin::new(&mut s).poll(&mut cx).is_pending());
        drop(s);
        // A later sleep still fires: the dropped one did not stop the timer.
        let (tx2, rx2) = std::sync::mpsc::channel();
        let w2 = Waker::from(Arc::new(Flag(tx2)));
        let mut s2 = sleep(Duration::from_millis(40));
        assert!(Pin::new(&mut s2)
            .poll(&mut Context::from_waker(&w2))
            .is_pending());
        rx2.recv_timeout(Duration::from_secs(10)).expect("woken");
        assert!(rx.try_recv().is_err(), "the dropped sleep woke its task");
    }
}
