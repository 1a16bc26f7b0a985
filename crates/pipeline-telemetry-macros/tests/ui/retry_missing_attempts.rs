use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(backoff = "fixed"))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
