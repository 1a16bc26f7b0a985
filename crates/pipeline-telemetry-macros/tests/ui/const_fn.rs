use pipeline_telemetry::instrument_stage;

#[instrument_stage]
const fn extract() -> u32 {
    1
}

fn main() {
    let _ = extract();
}
