//! `#[instrument_stage]` on functions that return no `Result` (a value, or
//! nothing): the stage always ends with `status:ok`.
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{sum, values, Capture};

#[instrument_stage]
fn count_rows(rows: &[u32]) -> usize {
    rows.len()
}

#[instrument_stage]
fn log_batch(_rows: &[u32]) {}

#[instrument_stage]
async fn checksum(rows: Vec<u32>) -> u64 {
    rows.iter().map(|&r| u64::from(r)).sum()
}

fn main() {
    let capture = Capture::start();
    assert_eq!(count_rows(&[1, 2, 3]), 3);
    log_batch(&[1]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(checksum(vec![1, 2])), 3);
    let m = capture.finish();
    for stage in ["count_rows", "log_batch", "checksum"] {
        let v = values(
            &m,
            "pipeline.stage.duration",
            &[("stage", stage), ("status", "ok")],
        );
        assert_eq!(v.len(), 1, "{stage}");
    }
    assert_eq!(sum(&m, "pipeline.errors", &[]), 0.0);
}
