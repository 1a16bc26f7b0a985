use pipeline_telemetry::instrument_stage;

#[instrument_stage(stage = " ")]
fn extract() {}

fn main() {
    extract();
}
