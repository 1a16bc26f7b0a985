//! A stalled stdout never slows a stage. The child process (this binary
//! again) writes JSON log lines to a stdout pipe that the test does not
//! read: it completes all its runs (a watchdog fails the test instead of
//! hanging), then the test reads the pipe: whole lines only, the lines
//! written plus the lines dropped are every line logged, and the drops
//! arrive in the client telemetry over real UDP.
#![cfg(feature = "traces")]

mod child;

use std::time::Duration;

use pipeline_telemetry::{PipelineRun, LOGS_DROPPED_METRIC};
use pipeline_telemetry_test_support::udp::UdpReceiver;

const RUNS: u64 = 20_000;
const MESSAGE: &str = "run done";

/// The child: `RUNS` runs, one JSON log line each, then the writer's
/// counters on stderr, before and after the queue is written out.
#[test]
fn stalled_child() {
    if !child::is_child() {
        return;
    }
    let telemetry = pipeline_telemetry::init().expect("init");
    for i in 0..RUNS {
        let run = PipelineRun::start("stalled", i);
        run.in_scope(|| tracing::info!(n = i, "{MESSAGE}"));
        run.finish();
    }
    let otel = telemetry.otel().expect("logs set up");
    eprintln!(
        "child: runs done, dropped {}",
        otel.stats().log_lines.dropped
    );
    // The test reads stdout from now on; the queue goes out.
    otel.flush(Duration::from_secs(120)).expect("flush");
    let s = otel.stats().log_lines;
    eprintln!("child: final {} {} {}", s.exported, s.dropped, s.failed);
    drop(telemetry);
}

fn numbers(line: &str, prefix: &str) -> Vec<u64> {
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"))
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect()
}

#[test]
fn a_stdout_nobody_reads_never_stops_the_runs() {
    if child::is_child() {
        return;
    }
    let receiver = UdpReceiver::bind().expect("receiver");
    let host = receiver.url();
    let mut child = child::spawn(
        "stalled_child",
        &[
            ("DD_DOGSTATSD_URL", host.as_str()),
            ("PIPELINE_TELEMETRY_LOG_FORMAT", "json"),
            ("PIPELINE_TELEMETRY_TRACES", "off"),
        ],
    );
    let stderr = child::stderr_lines(&mut child);
    // Nobody reads stdout until the runs are done. The watchdog is generous
    // (the runs take well under a second unloaded): it fails the test
    // instead of hanging on a child blocked on its stdout.
    let done = loop {
        match stderr.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.starts_with("child: runs done") => break line,
            Ok(_) => {}
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the runs did not complete with stdout unread ({e:?}): logging blocked them"
                );
            }
        }
    };
    let dropped_at_done = numbers(&done, "child: runs done, dropped ")[0];
    let stdout = child.stdout.take().expect("stdout piped");
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).expect("stdout"));
    let status = child::wait_or_kill(child, Duration::from_secs(120), "stalled stdout");
    let stdout = out.join().expect("stdout reader");
    let stderr: Vec<String> = stderr.try_iter().collect();
    assert!(status.success(), "{status}\n{}", stderr.join("\n"));
    let last = stderr
        .iter()
        .find(|l| l.starts_with("child: final "))
        .unwrap_or_else(|| panic!("no final counters: {stderr:#?}"));
    let [exported, dropped, failed] = numbers(last, "child: final ")[..] else {
        panic!("{last}");
    };

    // Whole lines only: every line is a complete JSON object (or the test
    // harness's own output), none torn.
    let mut json = 0;
    for line in stdout.lines() {
        if line.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a torn or broken JSON line ({e}): {line}"));
            assert_eq!(v["message"], MESSAGE, "{line}");
            json += 1;
        } else {
            assert!(
                line.is_empty()
                    || line.starts_with("running ")
                    || line.starts_with("test ")
                    || line == ".",
                "not a whole JSON line: {line:?}"
            );
        }
    }
    assert!(dropped > 0, "nothing was dropped: the pipe never filled?");
    assert_eq!(dropped, dropped_at_done, "drops after the runs");
    assert_eq!(failed, 0);
    assert_eq!(json, exported, "lines read against lines written");
    assert_eq!(
        exported + dropped,
        RUNS,
        "every line logged is written or counted"
    );

    // The drops are in the client telemetry.
    let sent: u64 = receiver
        .drain_lines(Duration::from_millis(200))
        .into_iter()
        .filter_map(|l| {
            let rest = l.strip_prefix(LOGS_DROPPED_METRIC)?.strip_prefix(':')?;
            rest.split('|').next()?.parse::<u64>().ok()
        })
        .sum();
    assert_eq!(sent, dropped);
}
