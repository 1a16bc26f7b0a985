//! `#[instrument_stage]` on an `async fn`: awaiting it runs the body and
//! times the stage; `.await` inside the body works as without the attribute.
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{values, Capture};

async fn fetch(n: u32) -> u32 {
    n + 1
}

#[instrument_stage]
async fn transform(rows: Vec<u32>) -> Result<usize, std::io::Error> {
    let extra = fetch(1).await;
    Ok(rows.len() + extra as usize)
}

fn main() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(transform(vec![1, 2])).unwrap(), 4);
    let m = capture.finish();
    let v = values(
        &m,
        "pipeline.stage.duration",
        &[("stage", "transform"), ("status", "ok")],
    );
    assert_eq!(v.len(), 1);
}
