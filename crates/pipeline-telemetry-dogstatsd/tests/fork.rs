//! A process that forks without exec (a pre-fork worker model, a
//! `multiprocessing`-style helper) has a copy of the parent's unsent
//! samples and locks but no flusher. With a real `fork()` over real UDP:
//! the child's flush, stats and guard drop neither resend the parent's
//! samples (the receiver sees what the parent recorded, once) nor hang,
//! even when the child is forked while the flusher thread is stuck in a
//! send (blocked resolving the Agent's name). And a child forked while
//! another thread holds the series registry's locks (the flusher taking its
//! snapshot, a thread registering a series) can register series of its own.
//! A child forked after the parent's exporter stopped starts one of its own
//! and sends through it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{
    CounterHandle, DistributionHandle, DogStatsDBuilder, DogStatsDGuard, MemorySink, Target,
};

/// One exporter per process at a time: the tests take turns.
static SERIAL: Mutex<()> = Mutex::new(());
use pipeline_telemetry_test_support::UdpReceiver;

fn exporter(target: Target) -> DogStatsDBuilder {
    DogStatsDBuilder::new(target)
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
}

/// Forks; the child runs `child` on the guard (flush, stats, drop) and
/// exits; the parent waits for it (bounded: a child that hangs is killed
/// and fails the test) and gets the guard back, with the child's exit code
/// (3: the child's stats showed sends).
fn fork_and_wait(guard: DogStatsDGuard) -> (DogStatsDGuard, i32) {
    // SAFETY: the child only calls the exporter's API and `_exit`s; glibc's
    // allocator is fork-safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        guard.flush();
        let stats = guard.stats();
        drop(guard);
        let code = if stats.packets_sent == 0 { 0 } else { 3 };
        // SAFETY: ends the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(code) };
    }
    (guard, wait_child(pid))
}

/// Waits for child `pid` (bounded: a child that hangs is killed and fails
/// the test); its exit code.
fn wait_child(pid: libc::pid_t) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = 0;
    loop {
        // SAFETY: waits on our own child, without blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        if Instant::now() >= deadline {
            // SAFETY: kills our own child, which is hung.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child did not exit within 60 s (deadlocked)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
    libc::WEXITSTATUS(status)
}

/// Every line `rx` gets until nothing more comes (the sender has stopped).
fn received(rx: &UdpReceiver) -> Vec<String> {
    let mut lines = Vec::new();
    for d in rx.drain(Duration::from_millis(500)) {
        let text = String::from_utf8(d).expect("utf-8");
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

#[derive(Default)]
struct Gate {
    state: Mutex<(bool, bool)>, // (entered, open)
    changed: Condvar,
}

impl Gate {
    fn wait(&self, until: impl Fn(&(bool, bool)) -> bool, enter: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if enter {
            s.0 = true;
            self.changed.notify_all();
        }
        while !until(&s) && Instant::now() < deadline {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        until(&s)
    }
    fn open(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.changed.notify_all();
    }
}

#[test]
fn a_child_forked_while_the_registry_is_busy_registers_series() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    // The flusher thread snapshots the registry every millisecond, and a
    // thread registers new series without pause: the registry's locks are
    // taken at most moments a fork can happen.
    let guard = exporter(Target::Memory(MemorySink::new()))
        .with_flush_interval(Duration::from_millis(1))
        .start()
        .expect("start");
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let busy = std::thread::spawn(move || {
        let mut i = 0u32;
        while !s.load(Ordering::Relaxed) {
            let v = (i % 5000).to_string();
            CounterHandle::register("fork.busy", &[("n", &v)]);
            i = i.wrapping_add(1);
        }
    });
    for round in 0..300u32 {
        let tag = round.to_string();
        // SAFETY: the child only registers a series, counts and `_exit`s;
        // glibc's allocator is fork-safe.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            CounterHandle::register("fork.child", &[("round", &tag)]).increment(1);
            // SAFETY: ends the child at once, running no parent-owned destructor.
            unsafe { libc::_exit(0) };
        }
        assert_eq!(wait_child(pid), 0, "round {round}");
    }
    stop.store(true, Ordering::Relaxed);
    busy.join().expect("busy thread");
    drop(guard);
}

#[test]
fn a_child_forked_after_the_parents_exporter_stopped_starts_its_own() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let rx = UdpReceiver::bind().expect("bind");
    let guard = exporter(Target::Udp(rx.addr())).start().expect("start");
    CounterHandle::register("fork.parent", &[]).increment(1);
    guard.shutdown(Duration::from_secs(30)).expect("shutdown");
    let child_rx = UdpReceiver::bind().expect("bind");
    let target = Target::Udp(child_rx.addr());
    // SAFETY: the child only starts an exporter, counts, stops it and
    // `_exit`s; glibc's allocator is fork-safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = match exporter(target).start() {
            Ok(guard) => {
                CounterHandle::register("fork.child_own", &[]).increment(4);
                match guard.shutdown(Duration::from_secs(30)) {
                    Ok(()) => 0,
                    Err(_) => 4,
                }
            }
            Err(_) => 2,
        };
        // SAFETY: ends the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(code) };
    }
    assert_eq!(
        wait_child(pid),
        0,
        "2: refused to start; 4: shutdown failed"
    );
    let lines = received(&child_rx);
    let own: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("fork.child_own:"))
        .collect();
    assert_eq!(own, ["fork.child_own:4|c"], "{lines:?}");
    assert!(
        lines.iter().all(|l| !l.starts_with("fork.parent:")),
        "the parent's count was resent: {lines:?}"
    );
    // The parent can start again after its child did.
    let again = exporter(Target::Udp(rx.addr()))
        .start()
        .expect("start again");
    drop(again);
}

#[test]
fn a_forked_child_neither_resends_nor_deadlocks() {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    // 1. Unflushed samples at the fork: only the parent sends them.
    let rx = UdpReceiver::bind().expect("bind");
    let guard = exporter(Target::Udp(rx.addr())).start().expect("start");
    guard.flush(); // the start's own flush is done
    CounterHandle::register("fork.count", &[]).increment(5);
    let d = DistributionHandle::register("fork.dist", &[]);
    d.record(1.0);
    d.record(2.0);
    let (guard, child) = fork_and_wait(guard);
    drop(guard);
    let lines = received(&rx);
    let counts: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("fork.count:"))
        .collect();
    let dists: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("fork.dist:"))
        .collect();
    assert_eq!(counts, ["fork.count:5|c"], "{lines:?}");
    assert_eq!(dists, ["fork.dist:1:2|d"], "{lines:?}");
    assert_eq!(child, 0, "the child's stats showed sends");

    // 2. Forked while the flusher thread is blocked in a send: the child's
    //    flush, stats and drop return; the parent still sends, once.
    let rx = UdpReceiver::bind().expect("bind");
    let addr: std::net::SocketAddr = rx.addr().parse().expect("address");
    let gate = Arc::new(Gate::default());
    let g = gate.clone();
    CounterHandle::register("fork.gated", &[]).increment(3);
    let guard = exporter(Target::Udp("gated-agent:8125".into()))
        .with_resolver(move |_| {
            g.wait(|s| s.1, true);
            Ok(vec![addr])
        })
        .start()
        .expect("start");
    assert!(gate.wait(|s| s.0, false), "the flusher never resolved");
    let (guard, child) = fork_and_wait(guard);
    assert_eq!(child, 0, "the child's stats showed sends");
    gate.open();
    drop(guard);
    let lines = received(&rx);
    let gated: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("fork.gated:"))
        .collect();
    assert_eq!(gated, ["fork.gated:3|c"], "{lines:?}");
}
