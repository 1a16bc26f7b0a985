use pipeline_telemetry::instrument_stage;

#[instrument_stage(stage = extract)]
fn extract() {}

fn main() {
    extract();
}
