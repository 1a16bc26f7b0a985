//! Timeouts and cancellation kill the whole process group: a child that
//! ignores SIGTERM and starts a grandchild that ignores it too leaves no
//! live process behind, checked in `/proc` by process group.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{ProcessError, ProcessStage};

static SYNC: Stage = Stage::new("stubborn_sync");
static ASYNC: Stage = Stage::new("stubborn_async");
static CANCEL: Stage = Stage::new("stubborn_cancelled");
static LINGER: Stage = Stage::new("lingering");

/// A shell that ignores SIGTERM, starts a grandchild that ignores it too,
/// prints the grandchild's pid, and sleeps.
fn stubborn() -> Command {
    let mut c = Command::new("/bin/sh");
    c.args([
        "-c",
        "trap '' TERM; sh -c \"trap '' TERM; sleep 300\" & echo $!; sleep 300",
    ]);
    c
}

fn pgid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    f.get(2)?.parse().ok()
}

#[test]
fn timeouts_and_cancellation_leave_no_process() {
    let h = common::init("timeout");
    let run = PipelineRun::start("timeout_tests", "run-timeout-1");
    let entered = run.enter();

    // Blocking API: timeout, then TERM (ignored), then KILL after the grace.
    let started = Instant::now();
    let err = ProcessStage::new(&SYNC, stubborn())
        .with_timeout(Duration::from_millis(300))
        .with_grace(Duration::from_millis(300))
        .run()
        .expect_err("times out");
    let took = started.elapsed();
    assert!(matches!(err, ProcessError::Timeout { .. }), "{err:?}");
    assert_eq!(err.error_type(), "timeout");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Async API: the same, without blocking the runtime.
    let err = rt
        .block_on(
            run.scope(
                ProcessStage::new(&ASYNC, stubborn())
                    .with_timeout(Duration::from_millis(300))
                    .with_grace(Duration::from_millis(300))
                    .run_async(),
            ),
        )
        .expect_err("times out");
    assert_eq!(err.error_type(), "timeout");

    // Cancellation: the stage future is dropped while the child and its
    // grandchild run (the grandchild is recognised by a unique argument).
    let marker = format!("1000.{}", std::process::id());
    let mut cancelled = Command::new("/bin/sh");
    cancelled.args([
        "-c",
        &format!("trap '' TERM; sh -c \"trap '' TERM; sleep {marker}\" & sleep 300"),
    ]);
    let seen = rt.block_on(async {
        let stage = run.scope(
            ProcessStage::new(&CANCEL, cancelled)
                .with_grace(Duration::from_millis(300))
                .run_async(),
        );
        let started = async {
            let deadline = Instant::now() + Duration::from_secs(10);
            while find_by_cmdline(&marker).is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            !find_by_cmdline(&marker).is_empty()
        };
        tokio::select! {
            r = stage => panic!("the stage ended by itself: {r:?}"),
            seen = started => seen,
        }
        // The stage future is dropped here.
    });
    assert!(seen, "the grandchild never started");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut survivors = find_by_cmdline(&marker);
    while !survivors.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        survivors = find_by_cmdline(&marker);
    }
    assert!(
        survivors.is_empty(),
        "survivors of a cancelled stage: {survivors:?}"
    );

    // A child that exits at once but leaves a background grandchild: the
    // grandchild goes with the stage.
    let out = ProcessStage::new(&LINGER, {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", "sleep 300 & echo $!"]);
        c
    })
    .with_stdout_capture(64)
    .with_grace(Duration::from_millis(300))
    .run()
    .expect("exit 0");
    let grandchild: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("grandchild pid");
    let pgid = out.pid as i32;
    assert!(grandchild > 1);
    // Checked at once: the stage returned only after its group was gone.
    let live = common::live_in_group(pgid);
    assert!(
        live.is_empty(),
        "the grandchild {grandchild} outlived its stage: {live:?}"
    );
    // Gone, or a zombie waiting for init to reap it.
    assert!(
        pgid_of(grandchild).is_none()
            || !common::live_in_group(pgid)
                .iter()
                .any(|s| s.starts_with(&format!("{grandchild} ")))
    );
    drop(entered);
    run.finish();

    // The timeouts are counted as errors with their stage; the cancelled
    // stage is not an error.
    h.guard.flush();
    let lines = h.udp.lines_until(Duration::from_secs(10), |l| {
        common::matching(l, "pipeline.stage.duration", &["stage:lingering"]).len() == 1
    });
    for stage in ["stubborn_sync", "stubborn_async"] {
        let tag = format!("stage:{stage}");
        let errs = common::matching(&lines, "pipeline.errors", &[&tag, "error_type:timeout"]);
        assert_eq!(common::count_sum(&errs), 1, "{stage}: {lines:#?}");
    }
    assert!(common::matching(&lines, "pipeline.errors", &["stage:stubborn_cancelled"]).is_empty());
    let cancelled = common::matching(
        &lines,
        "pipeline.stage.duration",
        &["stage:stubborn_cancelled", "status:cancelled"],
    );
    assert_eq!(cancelled.len(), 1, "{lines:#?}");
    h.guard.shutdown(Duration::from_secs(10)).expect("shutdown");
}

/// Live processes with `marker` as an argument.
fn find_by_cmdline(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.split(|b| *b == 0).any(|a| a == marker.as_bytes()) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|c| stat[c + 1..].split_whitespace().next().map(str::to_owned));
            if state.as_deref() != Some("Z") {
                found.push(format!("{:?}: {stat}", entry.file_name()));
            }
        }
    }
    found
}
