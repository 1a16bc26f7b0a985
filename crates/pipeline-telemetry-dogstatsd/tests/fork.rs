//! A process that forks without exec (a pre-fork worker model, a
//! `multiprocessing`-style helper) has a copy of the parent's unsent
//! samples and locks but no flusher. With a real `fork()` over real UDP:
//! the child's flush, stats and guard drop neither resend the parent's
//! samples (the receiver sees what the parent recorded, once) nor hang,
//! even when the child is forked while the flusher thread is stuck in a
//! send (blocked resolving the Agent's name).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{
    CounterHandle, DistributionHandle, DogStatsDBuilder, DogStatsDGuard, Target,
};
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
    (guard, libc::WEXITSTATUS(status))
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
fn a_forked_child_neither_resends_nor_deadlocks() {
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
