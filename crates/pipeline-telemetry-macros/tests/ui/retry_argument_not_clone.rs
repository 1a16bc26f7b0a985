use pipeline_telemetry::instrument_stage;

struct Conn;

#[instrument_stage(retry(attempts = 3))]
fn extract(conn: Conn) -> Result<(), std::io::Error> {
    let _ = conn;
    Ok(())
}

fn main() {}
