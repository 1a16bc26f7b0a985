//! `#[instrument_stage]` on a plain `fn`: the body runs once, its value comes
//! back unchanged, and the stage is timed with `status:ok`.
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{values, Capture};

#[instrument_stage]
fn extract(n: u32) -> Result<Vec<u32>, std::io::Error> {
    Ok((0..n).collect())
}

fn main() {
    let capture = Capture::start();
    assert_eq!(extract(3).unwrap(), vec![0, 1, 2]);
    let m = capture.finish();
    let v = values(
        &m,
        "pipeline.stage.duration",
        &[("stage", "extract"), ("status", "ok")],
    );
    assert_eq!(v.len(), 1);
}
