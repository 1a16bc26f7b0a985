use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 3), retry(attempts = 2))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
