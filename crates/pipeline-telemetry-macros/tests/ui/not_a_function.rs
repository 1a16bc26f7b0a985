use pipeline_telemetry::instrument_stage;

#[instrument_stage]
struct Extract;

fn main() {
    let _ = Extract;
}
