//! `stage = "..."` names the stage, whatever the function is called; the
//! function's own name is then not a stage.
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{values, Capture};

#[instrument_stage(stage = "dbt_run")]
fn transform() -> Result<(), std::io::Error> {
    Ok(())
}

#[instrument_stage(stage = "warehouse.load")]
async fn load() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    let capture = Capture::start();
    transform().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(load()).unwrap();
    let m = capture.finish();
    for stage in ["dbt_run", "warehouse.load"] {
        let v = values(&m, "pipeline.stage.duration", &[("stage", stage)]);
        assert_eq!(v.len(), 1, "{stage}");
    }
    for stage in ["transform", "load"] {
        assert!(
            values(&m, "pipeline.stage.duration", &[("stage", stage)]).is_empty(),
            "{stage}"
        );
    }
}
