//! A stage that runs outside any entered run while a run is live says so
//! once on stderr (the most common mistake: `PipelineRun::start` and then
//! stage calls without `scope`, `in_scope` or `enter`). Each case runs in a
//! child process of this test binary, whose stderr is read.

use std::process::Command;

use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};

const ROLE: &str = "PT_STRAY_ROLE";
const SAID: &str = "ran outside any entered run";

static LOAD: Stage = Stage::new("load");

#[instrument_stage]
async fn publish() -> Result<(), std::io::Error> {
    Ok(())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn ok() -> Result<(), std::io::Error> {
    Ok(())
}

/// What the child does, by role.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        // No run anywhere: a stage on its own is fine.
        "no_run" => {
            LOAD.run(ok).expect("load");
            block_on(publish()).expect("publish");
        }
        // A run is live, its stages are called without entering it.
        "stray" => {
            let run = PipelineRun::start("daily_etl", "1");
            LOAD.run(ok).expect("load");
            LOAD.run(ok).expect("load");
            block_on(publish()).expect("publish");
            run.finish();
        }
        // The same, entered: nothing to say.
        "entered" => {
            let run = PipelineRun::start("daily_etl", "1");
            run.in_scope(|| LOAD.run(ok)).expect("load");
            block_on(run.scope(publish())).expect("publish");
            run.finish();
            // The run ended: a stage on its own is fine again.
            LOAD.run(ok).expect("load");
        }
        other => panic!("unknown role {other}"),
    }
}

fn stderr_of(role: &str) -> String {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child {role} failed: {stderr}");
    stderr
}

#[test]
fn a_stage_outside_a_live_run_says_so_once() {
    let said = stderr_of("stray");
    let lines: Vec<&str> = said.lines().filter(|l| l.contains(SAID)).collect();
    assert_eq!(lines.len(), 1, "said exactly once: {said}");
    assert!(lines[0].contains("stage `load`"), "{}", lines[0]);
    assert!(lines[0].contains("run.scope"), "{}", lines[0]);
}

#[test]
fn nothing_is_said_without_a_live_run_or_inside_one() {
    for role in ["no_run", "entered"] {
        let said = stderr_of(role);
        assert!(!said.contains(SAID), "{role}: {said}");
    }
}
