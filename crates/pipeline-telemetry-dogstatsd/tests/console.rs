//! The console fallback writes to standard error, never standard output
//! (left to JSON logs), and a terminal that does not keep up never blocks
//! a flush: each case runs this test binary again as a child process
//! whose real stdout and stderr are pipes.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};

const CHILD: &str = "PT_DSD_CONSOLE_CHILD";

fn console() -> pipeline_telemetry_dogstatsd::DogStatsDGuard {
    DogStatsDBuilder::new(Target::Console)
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .start()
        .expect("start")
}

/// The child's side; does nothing unless started by the tests below.
#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("lines") => {
            let guard = console();
            CounterHandle::register("console.count", &[("k", "v")]).increment(3);
            drop(guard);
        }
        Ok("flood") => {
            let guard = console();
            let d = DistributionHandle::register("console.flood", &[]);
            for round in 0..200 {
                for i in 0..5_000 {
                    d.record(f64::from(i) + f64::from(round) / 100.0);
                }
                guard.flush();
            }
            let stats = guard.stats();
            println!(
                "\nCHILD-STATS sent={} dropped={}",
                stats.packets_sent, stats.packets_dropped
            );
            drop(guard);
        }
        _ => {}
    }
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Runs the child; reads its stdout as it goes and its stderr only if
/// `read_stderr` (else that pipe fills up and stays full), and fails if it
/// does not finish within a bounded time.
fn run_child(mode: &str, read_stderr: bool) -> Output {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    // Kept open (and unread) until the child is done when not read.
    let mut err = child.stderr.take().expect("stderr");
    let (stderr, _unread) = if read_stderr {
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        (Some(reader), None)
    } else {
        (None, Some(err))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "child failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child is blocked writing metrics to the console");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Output {
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr
            .map(|h| h.join().expect("stderr reader"))
            .unwrap_or_default(),
    }
}

#[test]
fn console_lines_go_to_stderr_and_stdout_stays_clean() {
    let out = run_child("lines", true);
    assert!(
        !out.stdout.contains("console.count"),
        "stdout: {}",
        out.stdout
    );
    assert!(
        out.stderr.lines().any(|l| l == "console.count:3|c|#k:v"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn a_stderr_nobody_reads_never_blocks_a_flush() {
    // Nothing reads the child's stderr: the pipe fills, the console writer
    // blocks on it, and the flushes go on, dropping and counting.
    let out = run_child("flood", false);
    let stats = out
        .stdout
        .lines()
        .find_map(|l| l.split_once("CHILD-STATS ").map(|(_, s)| s))
        .unwrap_or_else(|| panic!("no stats: {}", out.stdout));
    let dropped: u64 = stats
        .split_once("dropped=")
        .and_then(|(_, d)| d.trim().parse().ok())
        .expect("dropped count");
    assert!(dropped > 0, "{stats}");
}
