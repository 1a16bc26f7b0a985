use pipeline_telemetry::instrument_stage;

#[derive(Debug)]
struct LoadError;

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("load failed")
    }
}

#[instrument_stage(retry(attempts = 3, timeout_ms = 1000))]
async fn load() -> Result<(), LoadError> {
    Ok(())
}

fn main() {}
