use pipeline_telemetry::instrument_stage;

struct Client;

impl Client {
    #[instrument_stage(retry(attempts = 3))]
    fn get(self) -> Result<(), std::io::Error> { Ok(()) }
}

fn main() {}
