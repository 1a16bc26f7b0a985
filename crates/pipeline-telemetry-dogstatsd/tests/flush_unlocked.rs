//! No lock is held across I/O: while the flusher thread is stuck resolving
//! the Agent's name (a resolver blocked on a gate), `stats()`, `flush()` and
//! a shutdown with a timeout all return; once the gate opens, everything
//! recorded arrives over real UDP, once. And a caller's thread never
//! resolves: with the flusher thread idle and a re-resolution due, a
//! shutdown sends to the address already known. A watchdog fails a test
//! instead of letting it hang when one of them does not return.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{CounterHandle, DogStatsDBuilder, ShutdownError, Target};
use pipeline_telemetry_test_support::UdpReceiver;

/// A gate the resolver waits on; `entered` says the resolver is waiting.
#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>, // (entered, open)
    changed: Condvar,
}

impl Gate {
    fn enter_and_wait(&self) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.0 = true;
        self.changed.notify_all();
        // Bounded, so that a failing run ends: the watchdog fires long before.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !s.1 && Instant::now() < deadline {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
    fn wait_entered(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while !s.0 && Instant::now() < deadline {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        s.0
    }
    fn open(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.changed.notify_all();
    }
}

/// Ends the process with a failure unless `done` is signalled within `limit`.
fn watchdog(limit: Duration, what: &'static str) -> mpsc::Sender<()> {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            eprintln!(
                "watchdog: {what} did not return within {limit:?} while the resolver was blocked"
            );
            std::process::exit(101);
        }
    });
    tx
}

/// One exporter per process at a time: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());

/// The sum of `name`'s counts received until `want` is reached (or 30 s).
fn receive_count(rx: &UdpReceiver, name: &str, want: u64) -> u64 {
    let prefix = format!("{name}:");
    let mut total = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while total < want && Instant::now() < deadline {
        for line in rx.lines_until(Duration::from_millis(500), |_| false) {
            if let Some(v) = line
                .strip_prefix(prefix.as_str())
                .and_then(|r| r.strip_suffix("|c"))
            {
                total += v.parse::<u64>().expect("count");
            }
        }
    }
    total
}

#[test]
fn a_shutdown_with_the_flusher_idle_never_resolves_on_the_callers_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let rx = UdpReceiver::bind().expect("bind");
    let addr: std::net::SocketAddr = rx.addr().parse().expect("address");
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let n = calls.clone();
    let c = CounterHandle::register("idle.count", &[]);
    c.increment(1);
    let guard = DogStatsDBuilder::new(Target::Udp("gated-agent:8125".into()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        // Every send after the first resolution finds a new one due.
        .with_resolve_interval(Duration::from_millis(1))
        .with_resolver(move |_host| {
            // The first resolution answers; every later one blocks.
            if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                g.enter_and_wait();
            }
            Ok(vec![addr])
        })
        .start()
        .expect("start");
    // The flusher thread's first flush resolves and sends; then it is idle
    // (the next flush is an hour away).
    assert_eq!(receive_count(&rx, "idle.count", 1), 1);

    c.increment(2);
    let done = watchdog(Duration::from_secs(60), "shutdown() with the flusher idle");
    let shutdown = guard.shutdown(Duration::from_millis(200));
    let _ = done.send(());
    assert!(shutdown.is_ok(), "{shutdown:?}");
    // Sent to the address resolved first, by the shutdown itself (the
    // re-resolution due is left to the flusher thread, which may now be
    // the one blocked in the resolver).
    assert_eq!(receive_count(&rx, "idle.count", 2), 2);
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    gate.open();
}

#[test]
fn a_blocked_resolver_holds_up_neither_stats_nor_flush_nor_shutdown() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let rx = UdpReceiver::bind().expect("bind");
    let addr: std::net::SocketAddr = rx.addr().parse().expect("address");
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    let c = CounterHandle::register("unlocked.count", &[]);
    c.increment(1); // something to send at the first flush, which resolves
    let guard = DogStatsDBuilder::new(Target::Udp("gated-agent:8125".into()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .with_resolver(move |_host| {
            g.enter_and_wait();
            Ok(vec![addr])
        })
        .start()
        .expect("start");
    // Starting wakes the flusher thread, which flushes and resolves: blocked.
    assert!(
        gate.wait_entered(Duration::from_secs(30)),
        "the flusher never resolved"
    );

    let done = watchdog(Duration::from_secs(60), "stats(), flush() or shutdown()");
    let stats = guard.stats();
    assert_eq!(stats.packets_sent, 0, "{stats:?}");
    c.increment(2);
    guard.flush();
    c.increment(4);
    let shutdown = guard.shutdown(Duration::from_millis(200));
    let _ = done.send(());
    assert!(
        matches!(shutdown, Err(ShutdownError::TimedOut)),
        "the send in progress is still blocked: {shutdown:?}"
    );

    // The resolver answers: the thread that was blocked sends what every
    // flush queued, the shutdown's included.
    gate.open();
    let mut total = 0u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while total < 7 && Instant::now() < deadline {
        for line in rx.lines_until(Duration::from_millis(500), |_| false) {
            if let Some(v) = line
                .strip_prefix("unlocked.count:")
                .and_then(|r| r.strip_suffix("|c"))
            {
                total += v.parse::<u64>().expect("count");
            }
        }
    }
    assert_eq!(total, 7, "everything recorded arrives, once");
    // Nothing more comes.
    let late = rx.lines_until(Duration::from_millis(300), |_| false);
    assert!(
        late.iter().all(|l| !l.starts_with("unlocked.count:")),
        "{late:?}"
    );
}
