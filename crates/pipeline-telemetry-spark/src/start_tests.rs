//! Starting a monitor from async code never blocks the runtime's thread:
//! a current-thread runtime keeps running its other tasks while the
//! monitor's thread gets ready.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::SparkMonitor;

/// How long the monitor's thread waits for its gate at most: a watchdog
/// that ends a test that would otherwise hang, not a timing condition.
const WATCHDOG: Duration = Duration::from_secs(30);

/// A gate the monitor's thread waits at before building its HTTP client
/// (see `SparkMonitor::start_gate`), opened by the test.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gate {
    open: Arc<(Mutex<bool>, Condvar)>,
    timed_out: Arc<AtomicBool>,
}

impl Gate {
    /// Waits until the gate is open, at most the watchdog.
    pub(crate) fn wait(&self) {
        let (open, changed) = &*self.open;
        let deadline = Instant::now() + WATCHDOG;
        let mut is_open = open.lock().unwrap_or_else(PoisonError::into_inner);
        while !*is_open {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.timed_out.store(true, Ordering::SeqCst);
                return;
            }
            is_open = changed
                .wait_timeout(is_open, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    pub(crate) fn open(&self) {
        let (open, changed) = &*self.open;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        changed.notify_all();
    }

    fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }
}

/// A loopback URL nothing listens on.
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// The ticker opens the gate only when it runs: on a current-thread
/// runtime it runs only if starting the monitor yields instead of blocking
/// the thread. On the old code `watch_async` blocked on the monitor's
/// readiness, the ticker never ran, and the gate's watchdog expired.
#[test]
fn watch_async_lets_other_tasks_run_while_the_monitor_starts() {
    let gate = Gate::default();
    let mut monitor = SparkMonitor::new(refused_url())
        .with_request_timeout(Duration::from_secs(2))
        .with_startup_grace(Duration::ZERO);
    monitor.start_gate = Some(gate.clone());
    let ticks = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (out, ticked) = runtime.block_on(async {
        let opener = gate.clone();
        let t = Arc::clone(&ticks);
        let ticker = tokio::spawn(async move {
            for _ in 0..3 {
                t.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
            opener.open();
        });
        let out = monitor.watch_async(async { 7 }).await;
        let ticked = ticker.await.is_ok();
        (out, ticked)
    });
    assert_eq!(out, 7);
    assert!(ticked);
    assert!(
        !gate.timed_out(),
        "starting the monitor blocked the runtime's only thread: the ticker could not open the gate"
    );
    assert_eq!(ticks.load(Ordering::SeqCst), 3);
}

/// The same for `start_async`, which gives the guard.
#[test]
fn start_async_lets_other_tasks_run_while_the_monitor_starts() {
    let gate = Gate::default();
    let mut monitor = SparkMonitor::new(refused_url())
        .with_request_timeout(Duration::from_secs(2))
        .with_startup_grace(Duration::ZERO);
    monitor.start_gate = Some(gate.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let stats = runtime.block_on(async {
        let opener = gate.clone();
        let ticker = tokio::spawn(async move {
            tokio::task::yield_now().await;
            opener.open();
        });
        let guard = monitor.start_async().await.expect("start");
        ticker.await.expect("ticker");
        guard.stop_async().await.expect("stop")
    });
    assert!(
        !gate.timed_out(),
        "starting the monitor blocked the runtime's only thread: the ticker could not open the gate"
    );
    assert!(stats.failed_polls >= 1, "{stats:?}");
}

/// The async forms can be spawned on a multi-threaded runtime.
#[test]
fn the_async_forms_are_send() {
    fn send<T: Send>(_: T) {}
    send(SparkMonitor::new("http://127.0.0.1:4040").start_async());
    send(SparkMonitor::new("http://127.0.0.1:4040").watch_async(async { 1 }));
}
