use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 3, backoff = "linear"))]
fn extract() -> Result<(), std::io::Error> { Ok(()) }

fn main() {}
