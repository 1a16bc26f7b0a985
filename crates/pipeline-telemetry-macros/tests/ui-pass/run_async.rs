//! `#[instrument_run]` on an `async fn`: the run follows the future (stages
//! awaited in it see the run on whichever worker polls them), `?` works as
//! without the attribute, and an `Err` fails the run.
use pipeline_telemetry::testing::{values, Capture};
use pipeline_telemetry::{instrument_run, instrument_stage, PipelineRun};

#[instrument_stage]
async fn load(n: u32) -> Result<u32, std::io::Error> {
    tokio::task::yield_now().await;
    Ok(n)
}

#[instrument_run(pipeline = "daily_etl", pipeline_id = format!("day-{day}"))]
async fn daily(day: u32) -> Result<u32, std::io::Error> {
    let n = load(day).await?;
    assert_eq!(
        PipelineRun::current().map(|r| r.pipeline_id().to_owned()),
        Some(format!("day-{day}"))
    );
    if n == 0 {
        return Err(std::io::Error::other("no rows"));
    }
    Ok(n)
}

#[instrument_run]
async fn backfill() {
    load(1).await.unwrap();
}

fn main() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(daily(3)).unwrap(), 3);
    assert!(rt.block_on(daily(0)).is_err());
    rt.block_on(backfill());
    let m = capture.finish();
    let flows = |flow: &str, status: &str| {
        values(
            &m,
            "prefect.flow.duration",
            &[("flow", flow), ("status", status)],
        )
        .len()
    };
    assert_eq!(flows("daily_etl", "ok"), 1);
    assert_eq!(flows("daily_etl", "failed"), 1);
    assert_eq!(flows("backfill", "ok"), 1);
    let stages = values(
        &m,
        "pipeline.stage.duration",
        &[("pipeline", "daily_etl"), ("stage", "load")],
    );
    assert_eq!(stages.len(), 2);
}
