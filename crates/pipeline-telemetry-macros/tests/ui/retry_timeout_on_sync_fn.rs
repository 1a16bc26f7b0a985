use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 3, timeout_ms = 1000))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
