use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 0))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
