//! `?` inside an instrumented body converts errors as it would without the
//! attribute (`From` into the declared error type), in a `fn` and an
//! `async fn`; an `Err` is counted in `pipeline.errors` and the stage ends
//! with `status:error`.
use std::fmt;

use pipeline_telemetry::instrument_stage;
use pipeline_telemetry::testing::{sum, values, Capture};

#[derive(Debug)]
struct LoadError(String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "load failed: {}", self.0)
    }
}

impl From<std::num::ParseIntError> for LoadError {
    fn from(e: std::num::ParseIntError) -> Self {
        LoadError(e.to_string())
    }
}

#[instrument_stage]
fn parse(text: &str) -> Result<u32, LoadError> {
    let n: u32 = text.parse()?;
    Ok(n)
}

#[instrument_stage]
async fn parse_later(text: String) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    let n: u32 = text.parse()?;
    Ok(n)
}

fn main() {
    let capture = Capture::start();
    assert_eq!(parse("7").unwrap(), 7);
    assert!(parse("x").is_err());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(parse_later("8".into())).unwrap(), 8);
    assert!(rt.block_on(parse_later("y".into())).is_err());
    let m = capture.finish();
    for stage in ["parse", "parse_later"] {
        let ok = values(
            &m,
            "pipeline.stage.duration",
            &[("stage", stage), ("status", "ok")],
        );
        let err = values(
            &m,
            "pipeline.stage.duration",
            &[("stage", stage), ("status", "error")],
        );
        assert_eq!((ok.len(), err.len()), (1, 1), "{stage}");
        assert_eq!(
            sum(&m, "pipeline.errors", &[("stage", stage)]),
            1.0,
            "{stage}"
        );
    }
}
