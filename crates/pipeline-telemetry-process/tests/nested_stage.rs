//! A `ProcessStage` inside a stage function that passes its error on: the
//! failure is counted once on the DogStatsD wire, by the process stage,
//! with the exit code's `error_type`; the outer stage records
//! `status:error`. The spans Datadog's APM test agent received say the
//! same `error.type` at every level (process, inner stage, outer stage,
//! run), and a run dropped without `finish()` arrives failed with
//! `error.type:run_unfinished`.

mod common;

use std::process::Command;
use std::time::Duration;

use pipeline_telemetry::{instrument_stage, PipelineRun, Stage, RUN_UNFINISHED};
use pipeline_telemetry_process::{ProcessError, ProcessStage};
use pipeline_telemetry_test_support::agent;

static SH: Stage = Stage::new("nested_sh");

#[instrument_stage(stage = "nested_export")]
async fn export() -> Result<(), ProcessError> {
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "exit 3"]);
    // The current run: the one this stage function was called in.
    ProcessStage::new(&SH, cmd).run_async().await?;
    Ok(())
}

#[test]
fn a_process_failure_passed_on_is_counted_once_and_typed_everywhere() {
    let h = common::init("process-nested");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let run = PipelineRun::start("process_nested", "nested-1");
    let err = rt.block_on(run.scope(export())).expect_err("exit 3");
    assert_eq!(err.error_type(), "exit_3");
    // Dropped without finish after a failed stage: failed, the stage's
    // error type on the run's span.
    drop(run);
    // Dropped without finish and without a failed stage.
    drop(PipelineRun::start("process_dropped", "dropped-1"));
    h.guard.flush();

    let lines = h.udp.lines_until(Duration::from_secs(10), |l| {
        common::matching(l, "prefect.flow.duration", &["flow:process_dropped"]).len() == 1
            && common::matching(l, "pipeline.stage.duration", &["stage:nested_export"]).len() == 1
    });
    let inner = common::matching(
        &lines,
        "pipeline.errors",
        &["stage:nested_sh", "error_type:exit_3"],
    );
    assert_eq!(common::count_sum(&inner), 1, "{lines:#?}");
    let outer = common::matching(&lines, "pipeline.errors", &["stage:nested_export"]);
    assert!(outer.is_empty(), "no second count: {outer:?}");
    let outer_d = common::matching(
        &lines,
        "pipeline.stage.duration",
        &["stage:nested_export", "status:error"],
    );
    assert_eq!(outer_d.len(), 1, "{lines:#?}");
    for flow in ["flow:process_nested", "flow:process_dropped"] {
        let f = common::matching(&lines, "prefect.flow.duration", &[flow, "status:failed"]);
        assert_eq!(f.len(), 1, "{flow}: {lines:#?}");
    }

    let attr = |s: &agent::Span, k: &str| s.attributes.get(k).cloned().unwrap_or_default();
    let spans = agent::poll_spans(&h.token, |s| {
        s.iter().filter(|s| s.name == "pipeline.run").count() >= 2
            && s.iter().any(|s| s.name == "process.run")
            && s.iter().filter(|s| s.name == "pipeline.stage").count() >= 2
    });
    let failed = |s: &agent::Span| {
        s.status_code
            .as_deref()
            .is_some_and(|c| c.contains("ERROR"))
    };
    let find = |name: &str, key: &str, value: &str| {
        spans
            .iter()
            .find(|s| s.name == name && attr(s, key) == value)
            .unwrap_or_else(|| panic!("no {name} with {key}={value}: {spans:#?}"))
    };
    for s in [
        spans
            .iter()
            .find(|s| s.name == "process.run")
            .expect("process span"),
        find("pipeline.stage", "stage", "nested_sh"),
        find("pipeline.stage", "stage", "nested_export"),
        find("pipeline.run", "pipeline", "process_nested"),
    ] {
        assert_eq!(attr(s, "error.type"), "exit_3", "{s:#?}");
        assert!(failed(s), "{s:#?}");
    }
    let dropped = find("pipeline.run", "pipeline", "process_dropped");
    assert_eq!(attr(dropped, "error.type"), RUN_UNFINISHED, "{dropped:#?}");
    assert!(failed(dropped), "{dropped:#?}");
}
