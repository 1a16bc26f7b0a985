//! Tests of the retry timer: waking, cancelling, and its bound.

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
    let mut s = sleep(Duration::from_millis(30), "t");
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
    let mut s = sleep(Duration::from_millis(10), "t");
    assert!(Pin::new(&mut s).poll(&mut cx).is_pending());
    drop(s);
    // A later sleep still fires: the dropped one did not stop the timer.
    let (tx2, rx2) = std::sync::mpsc::channel();
    let w2 = Waker::from(Arc::new(Flag(tx2)));
    let mut s2 = sleep(Duration::from_millis(40), "t");
    assert!(Pin::new(&mut s2)
        .poll(&mut Context::from_waker(&w2))
        .is_pending());
    rx2.recv_timeout(Duration::from_secs(10)).expect("woken");
    assert!(rx.try_recv().is_err(), "the dropped sleep woke its task");
}

fn pending(s: &mut Sleep) -> bool {
    Pin::new(s)
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
}

#[test]
fn cancelled_sleeps_leave_the_heap_long_before_their_deadline() {
    // No thread serves this timer: nothing ever fires, so without
    // compaction every cancelled entry would stay for the hour.
    let t: &'static Timer = Box::leak(Box::new(Timer::new(MAX_TIMERS)));
    let mut live = Vec::new();
    for i in 0..20_000 {
        let mut s = sleep_on(Some(t), Duration::from_secs(3600), "t", WhenRefused::Never);
        assert!(pending(&mut s));
        if i % 100 == 0 {
            live.push(s);
        } // else: cancelled here, as a finished attempt drops its timeout
        assert!(
            t.len() <= 2 * live.len() + 2 * MIN_COMPACT,
            "{} entries",
            t.len()
        );
    }
    assert_eq!(live.len(), 200);
}

#[test]
fn past_the_bound_a_backoff_ends_at_once_and_a_timeout_never_fires_both_counted() {
    let capture = crate::testing::Capture::start();
    let t: &'static Timer = Box::leak(Box::new(Timer::new(4)));
    let hour = Duration::from_secs(3600);
    let mut live: Vec<Sleep> = (0..4)
        .map(|_| sleep_on(Some(t), hour, "bounded", WhenRefused::Complete))
        .collect();
    for s in &mut live {
        assert!(pending(s));
    }
    assert_eq!(t.len(), 4);
    let mut backoff = sleep_on(Some(t), hour, "bounded", WhenRefused::Complete);
    assert!(!pending(&mut backoff), "a refused backoff does not wait");
    let mut timeout = sleep_on(Some(t), hour, "bounded", WhenRefused::Never);
    assert!(pending(&mut timeout), "a refused timeout does not fire");
    assert!(pending(&mut timeout));
    assert_eq!(t.len(), 4, "never past the bound");
    // A cancelled sleep makes room.
    drop(live.pop());
    let mut again = sleep_on(Some(t), hour, "bounded", WhenRefused::Complete);
    assert!(pending(&mut again), "kept once there is room");
    assert_eq!(t.len(), 4);
    let m = capture.finish();
    assert_eq!(
        crate::testing::sum(
            &m,
            "pipeline.stage.retry_timers_refused",
            &[("stage", "bounded")]
        ),
        2.0
    );
}

#[test]
fn a_forked_child_has_a_timer_of_its_own() {
    // The parent's timer thread runs (and is not copied by the fork).
    let (tx, rx) = std::sync::mpsc::channel();
    let waker = Waker::from(Arc::new(Flag(tx)));
    let mut s = sleep(Duration::from_millis(1), "t");
    if Pin::new(&mut s)
        .poll(&mut Context::from_waker(&waker))
        .is_pending()
    {
        rx.recv_timeout(Duration::from_secs(10)).expect("woken");
    }
    // SAFETY: the child only sleeps on the retry timer and `_exit`s; glibc's
    // allocator is fork-safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let (tx, rx) = std::sync::mpsc::channel();
        let waker = Waker::from(Arc::new(Flag(tx)));
        let mut cx = Context::from_waker(&waker);
        let mut s = sleep(Duration::from_millis(20), "t");
        let woken = Pin::new(&mut s).poll(&mut cx).is_pending()
            && rx.recv_timeout(Duration::from_secs(30)).is_ok()
            && Pin::new(&mut s).poll(&mut cx).is_ready();
        // SAFETY: ends the child at once, running no parent-owned destructor.
        unsafe { libc::_exit(if woken { 0 } else { 1 }) };
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut status = 0;
    loop {
        // SAFETY: waits on our own child, without blocking.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            break;
        }
        if Instant::now() >= deadline {
            // SAFETY: kills our own child, which is hung.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "{status:#x}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "the child's sleep was never woken"
    );
}
