use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 3, base_ms = 500, max_ms = 100))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
