//! A stage's child never outlives its pipeline process. A helper process
//! (this test binary, run again with `PT_PARENT_DEATH_HELPER` set) runs a
//! `ProcessStage` of `sh -c 'sleep M & sleep M & wait'` (a child and two
//! grandchildren in the child's process group) and is then ended by a real
//! signal: SIGINT to its process group (what Ctrl-C in a terminal does:
//! the stage's group, a group of its own, does not get it), SIGTERM to its
//! pid (a supervisor), SIGKILL to its pid (an orchestrator, the OOM
//! killer). Each time, every process of the stage's group must be gone
//! within a few seconds, seen in `/proc`. Before the watchdog, all three
//! stayed (`sleep` runs for minutes), for the blocking and the async stage.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::ProcessStage;
use rustix::process::{kill_process, kill_process_group, Pid, Signal};

const HELPER_ENV: &str = "PT_PARENT_DEATH_HELPER";

static SLEEPERS: Stage = Stage::new("sleepers");

/// The helper's body: runs the stage until it is killed. Does nothing in a
/// normal test run.
#[test]
fn helper() {
    let Ok(mode) = std::env::var(HELPER_ENV) else {
        return;
    };
    let (how, marker) = mode.split_once(':').expect("mode:marker");
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", &format!("sleep {marker} & sleep {marker} & wait")]);
    let stage = ProcessStage::new(&SLEEPERS, cmd).with_grace(Duration::from_secs(1));
    let run = PipelineRun::start("parent_death", marker);
    let result = match how {
        "sync" => run.in_scope(|| stage.run()),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(run.scope(stage.run_async())),
    };
    // Only reached if the signal did not end this process.
    panic!("the stage ended: {result:?}");
}

/// Live processes with `marker` as an argument: (pid, process group).
fn sleepers(marker: &str) -> Vec<(i32, i32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !cmdline.split(|b| *b == 0).any(|a| a == marker.as_bytes()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f.len() > 2 && f[0] != "Z" && f[0] != "X" {
            let pid = stat.split(' ').next().and_then(|p| p.parse().ok());
            if let (Some(pid), Ok(pgid)) = (pid, f[2].parse()) {
                found.push((pid, pgid));
            }
        }
    }
    found
}

/// Starts the helper in a process group of its own (as a shell's
/// foreground job is), and waits for its stage's group to be running:
/// (helper, the stage's process group).
fn start_helper(how: &str, marker: &str) -> (Child, i32) {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().expect("test binary");
    let mut helper = Command::new(exe)
        .args(["--exact", "helper", "--nocapture", "--test-threads", "1"])
        .env(HELPER_ENV, format!("{how}:{marker}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("helper");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = sleepers(marker);
        if found.len() == 2 {
            let pgid = found[0].1;
            assert_eq!(found[1].1, pgid, "{found:?}");
            // The child (`sh`) leads the group: two grandchildren and it.
            if common::live_in_group(pgid).len() == 3 {
                assert_ne!(pgid, helper.id() as i32, "the stage has a group of its own");
                return (helper, pgid);
            }
        }
        if let Ok(Some(status)) = helper.try_wait() {
            panic!("the helper ended before its stage ran: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the stage never started: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signals the helper as `signal` says, and checks that its stage's group
/// is gone within the watchdog's time (a generous deadline: the group is
/// signalled as soon as the helper is dead).
fn case(how: &str, signal: &str, id: u32) {
    // A unique argument of the grandchildren (a valid duration for sleep).
    let marker = format!("600.{}{id}", std::process::id());
    let (mut helper, pgid) = start_helper(how, &marker);
    let hpid = Pid::from_raw(helper.id() as i32).expect("pid");
    match signal {
        // Ctrl-C: the terminal signals its foreground process group.
        "INT" => kill_process_group(hpid, Signal::INT),
        "TERM" => kill_process(hpid, Signal::TERM),
        _ => kill_process(hpid, Signal::KILL),
    }
    .expect("signal the helper");
    let status = helper.wait().expect("helper");
    assert!(!status.success(), "{how}/{signal}: {status}");

    let deadline = Instant::now() + Duration::from_secs(15);
    let mut left = common::live_in_group(pgid);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = common::live_in_group(pgid);
    }
    if !left.is_empty() {
        // Do not leave them running after the failure.
        if let Some(g) = Pid::from_raw(pgid) {
            let _ = kill_process_group(g, Signal::KILL);
        }
    }
    assert!(
        left.is_empty(),
        "{how} stage, helper ended by SIG{signal}: its child's group outlived it: {left:#?}"
    );
}

#[test]
fn ctrl_c_ends_the_stage_group() {
    case("sync", "INT", 1);
    case("async", "INT", 2);
}

#[test]
fn sigterm_ends_the_stage_group() {
    case("sync", "TERM", 3);
    case("async", "TERM", 4);
}

#[test]
fn sigkill_ends_the_stage_group() {
    case("sync", "KILL", 5);
    case("async", "KILL", 6);
}
