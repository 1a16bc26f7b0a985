use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 3, delay_ms = 10))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
