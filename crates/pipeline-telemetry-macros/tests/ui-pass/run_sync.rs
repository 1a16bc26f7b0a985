//! `#[instrument_run]` on a plain `fn`: each call is one run, current in the
//! body (stages called there are tagged with it), ended with the body's
//! outcome; the pipeline is named after the function unless given.
use pipeline_telemetry::testing::{values, Capture};
use pipeline_telemetry::{instrument_run, instrument_stage, PipelineRun};

#[instrument_stage]
fn extract() -> Result<usize, std::io::Error> {
    Ok(3)
}

#[instrument_run]
fn nightly() -> usize {
    assert_eq!(
        PipelineRun::current().map(|r| r.pipeline().to_owned()),
        Some("nightly".into())
    );
    extract().unwrap_or(0)
}

#[instrument_run(pipeline = "hourly_sync", pipeline_id = hour)]
fn hourly(hour: u32) -> Result<usize, std::io::Error> {
    assert_eq!(
        PipelineRun::current().map(|r| r.pipeline_id().to_owned()),
        Some(hour.to_string())
    );
    if hour == 13 {
        return Err(std::io::Error::other("unlucky hour"));
    }
    extract()
}

fn main() {
    let capture = Capture::start();
    assert_eq!(nightly(), 3);
    assert_eq!(hourly(1).unwrap(), 3);
    assert!(hourly(13).is_err());
    assert!(
        PipelineRun::current().is_none(),
        "the run ends with the call"
    );
    let m = capture.finish();
    let flows = |flow: &str, status: &str| {
        values(
            &m,
            "prefect.flow.duration",
            &[("flow", flow), ("status", status)],
        )
        .len()
    };
    assert_eq!(flows("nightly", "ok"), 1);
    assert_eq!(flows("hourly_sync", "ok"), 1);
    assert_eq!(flows("hourly_sync", "failed"), 1);
    let stages = values(
        &m,
        "pipeline.stage.duration",
        &[("pipeline", "nightly"), ("stage", "extract")],
    );
    assert_eq!(stages.len(), 1);
}
