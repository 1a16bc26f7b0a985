use pipeline_telemetry::instrument_stage;

#[instrument_stage(retry(attempts = 3))]
fn extract((a, b): (u32, u32)) -> Result<u32, std::io::Error> { Ok(a + b) }

fn main() {}
