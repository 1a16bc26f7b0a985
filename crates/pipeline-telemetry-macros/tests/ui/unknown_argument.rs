use pipeline_telemetry::instrument_stage;

#[instrument_stage(name = "extract")]
fn extract() {}

fn main() {
    extract();
}
