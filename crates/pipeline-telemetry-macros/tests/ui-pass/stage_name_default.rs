//! Without `stage = "..."`, the stage is named after the function (the
//! method's own name for a method).
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{values, Capture};

#[instrument_stage]
fn extract_orders() -> Result<(), std::io::Error> {
    Ok(())
}

struct Loader;

impl Loader {
    #[instrument_stage]
    fn upsert(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn main() {
    let capture = Capture::start();
    extract_orders().unwrap();
    Loader.upsert().unwrap();
    let m = capture.finish();
    for stage in ["extract_orders", "upsert"] {
        let v = values(&m, "pipeline.stage.duration", &[("stage", stage)]);
        assert_eq!(v.len(), 1, "{stage}");
    }
}
