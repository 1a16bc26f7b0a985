use pipeline_telemetry::instrument_run;

#[instrument_run(pipline = "daily")]
fn daily() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
