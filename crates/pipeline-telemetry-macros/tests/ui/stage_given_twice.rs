use pipeline_telemetry::instrument_stage;

#[instrument_stage(stage = "a", stage = "b")]
fn extract() {}

fn main() {
    extract();
}
