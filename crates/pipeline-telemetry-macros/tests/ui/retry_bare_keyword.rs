use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry)]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
