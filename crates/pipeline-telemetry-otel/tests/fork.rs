//! A process forked without exec (a pre-fork worker model) has a copy of
//! the parent's log queue and guard but none of its threads. With a real
//! `fork()`: every line the child logs reaches its stdout (none dropped in
//! a queue nobody reads, none waited for forever in lossless mode), and the
//! child's guard drop returns at once, even with a shutdown timeout of
//! `Duration::MAX` (which waits without limit for threads that would
//! answer).

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use pipeline_telemetry_otel::{LogFormat, OtelBuilder, TracesExport};
use tracing_subscriber::layer::SubscriberExt;

/// More lines than the queue holds.
const LINES: usize = 500;

/// One fork at a time in this binary. A fork copies every lock as it is:
/// one held by another test's thread at that moment (`tracing`'s global
/// callsite and dispatcher locks while that test builds its subscriber,
/// or std's stdout lock) stays held in the child, which has no such
/// thread, and its first new log callsite would wait forever. That is a
/// hazard of forking a process with other threads, not of the writer under
/// test; each test here controls what its own threads hold at its fork.
static ONE_FORK_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_fork_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_FORK_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Closes the parent's write end of the pipe `fds` and reads its read end
/// to the end on a thread of its own.
fn read_pipe(fds: [i32; 2]) -> std::thread::JoinHandle<String> {
    // SAFETY: the parent's copies of the pipe's ends, owned here once.
    let mut read = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fds[0]) });
    drop(unsafe { OwnedFd::from_raw_fd(fds[1]) });
    std::thread::spawn(move || {
        let mut out = String::new();
        let _ = read.read_to_string(&mut out);
        out
    })
}

/// Waits for our child `pid` to exit, at most `limit`: its wait status, or
/// `None` when it hung (it is then killed).
fn wait_or_kill(pid: libc::pid_t, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    let mut status = 0;
    loop {
        // SAFETY: waits on our own child, without blocking.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Some(status);
        }
        if Instant::now() >= deadline {
            // SAFETY: kills our own child, which is hung.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Forks a child that logs [`LINES`] lines through a layer built in the
/// parent (stdout redirected to a pipe), drops the guard and exits; returns
/// its exit status and the lines it wrote. A child that hangs is killed and
/// fails the test.
fn child_lines(lossless: bool) -> Vec<String> {
    let (layer, guard) = OtelBuilder::new("fork-svc")
        .with_traces(TracesExport::Off)
        .with_log_format(LogFormat::Json)
        .with_log_queue_lines(16)
        .with_lossless_logs(lossless)
        .with_shutdown_timeout(Duration::MAX)
        .build_layer::<tracing_subscriber::Registry>()
        .expect("layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut fds = [0; 2];
    // SAFETY: a two-element array for the pipe's ends.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let pid = tracing::subscriber::with_default(subscriber, || {
        // SAFETY: the child only logs through the layer, drops the guard
        // and `_exit`s; glibc's allocator is fork-safe.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: our own pipe's write end becomes the child's stdout.
            unsafe {
                libc::dup2(fds[1], 1);
                libc::close(fds[0]);
            }
            for i in 0..LINES {
                tracing::info!(n = i, "child line");
            }
            drop(guard);
            // SAFETY: ends the child at once, running no parent-owned destructor.
            unsafe { libc::_exit(0) };
        }
        pid
    });
    assert!(pid > 0, "fork failed");
    let reader = read_pipe(fds);
    let Some(status) = wait_or_kill(pid, Duration::from_secs(60)) else {
        panic!("the forked child did not exit within 60 s (lossless: {lossless})");
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status:#x}"
    );
    let out = reader.join().expect("reader");
    out.lines()
        .filter(|l| l.contains("child line"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_forked_child_writes_every_line_and_its_guard_returns() {
    let _one = one_fork_at_a_time();
    for lossless in [false, true] {
        let lines = child_lines(lossless);
        assert_eq!(lines.len(), LINES, "lossless: {lossless}: {lines:?}");
        for (i, line) in lines.iter().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(v["n"], i, "{line}");
        }
    }
}

/// A child forked while another thread of the parent holds std's stdout
/// lock (printing, as a test harness or the application does) inherits
/// that lock held by a thread it does not have: its log lines must still
/// be written (with `write(2)`, not through the lock) and it must exit.
#[test]
fn a_child_forked_while_stdout_is_locked_writes_and_exits() {
    let _one = one_fork_at_a_time();
    let (layer, guard) = OtelBuilder::new("fork-svc")
        .with_traces(TracesExport::Off)
        .with_log_format(LogFormat::Json)
        .build_layer::<tracing_subscriber::Registry>()
        .expect("layer");
    let subscriber = tracing_subscriber::registry().with(layer);
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let lock = std::io::stdout().lock();
        locked_tx.send(()).expect("locked");
        let _ = release_rx.recv();
        drop(lock);
    });
    locked_rx.recv().expect("stdout locked");
    let mut fds = [0; 2];
    // SAFETY: a two-element array for the pipe's ends.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let pid = tracing::subscriber::with_default(subscriber, || {
        // SAFETY: the child logs through the layer and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: our own pipe's write end becomes the child's stdout.
            unsafe {
                libc::dup2(fds[1], 1);
                libc::close(fds[0]);
            }
            tracing::info!("child line while stdout is locked");
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(0) };
        }
        pid
    });
    assert!(pid > 0, "fork failed");
    let reader = read_pipe(fds);
    let hung = wait_or_kill(pid, Duration::from_secs(30)).is_none();
    release_tx.send(()).expect("release");
    holder.join().expect("holder");
    assert!(!hung, "the forked child hung on the stdout lock");
    let out = reader.join().expect("reader");
    assert_eq!(
        out.lines()
            .filter(|l| l.contains("child line while stdout is locked"))
            .count(),
        1,
        "{out}"
    );
    drop(guard);
}
