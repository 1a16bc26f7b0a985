//! `#[instrument_run]`: one line makes a function a pipeline run whose
//! stages see it on whichever worker polls them, and whose outcome is the
//! function's.

use pipeline_telemetry::testing::{values, Capture};
use pipeline_telemetry::{instrument_run, instrument_stage, PipelineRun};

#[derive(Debug)]
struct LoadError;
impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse down")
    }
}

#[instrument_stage]
fn extract() -> Result<usize, LoadError> {
    Ok(3)
}

#[instrument_stage]
async fn load(n: usize, fail: bool) -> Result<usize, LoadError> {
    tokio::task::yield_now().await;
    if fail {
        return Err(LoadError);
    }
    Ok(n)
}

#[instrument_run(pipeline = "ir_daily", pipeline_id = format!("day-{day}"))]
async fn daily(day: u32, fail: bool) -> Result<usize, LoadError> {
    assert_eq!(
        PipelineRun::current().map(|r| r.pipeline_id().to_owned()),
        Some(format!("day-{day}"))
    );
    let n = extract()?;
    tokio::task::yield_now().await;
    load(n, fail).await
}

#[instrument_run]
fn nightly() -> usize {
    extract().unwrap_or(0)
}

#[test]
fn each_call_is_one_run_with_the_functions_outcome() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for day in 0..40 {
            set.spawn(daily(day, day % 10 == 0));
        }
        let mut failed = 0;
        while let Some(r) = set.join_next().await {
            if r.expect("join").is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 4);
    });
    assert_eq!(nightly(), 3);
    let m = capture.finish();

    let flows = |flow: &str, status: &str| {
        values(
            &m,
            "prefect.flow.duration",
            &[("flow", flow), ("status", status)],
        )
        .len()
    };
    assert_eq!(flows("ir_daily", "ok"), 36);
    assert_eq!(flows("ir_daily", "failed"), 4);
    assert_eq!(flows("nightly", "ok"), 1);
    for stage in ["extract", "load"] {
        let tagged = values(
            &m,
            "pipeline.stage.duration",
            &[("pipeline", "ir_daily"), ("stage", stage)],
        );
        assert_eq!(tagged.len(), 40, "{stage}");
    }
    assert_eq!(
        values(&m, "pipeline.errors", &[("pipeline", "ir_daily")])
            .iter()
            .sum::<f64>(),
        4.0
    );
}
