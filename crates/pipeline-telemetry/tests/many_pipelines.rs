//! A call site caches the handles of its first 16 pipelines; the stages of
//! every further pipeline go through a small per-thread cache whose slots
//! collide. Each sample must still land on its own pipeline's series.

use pipeline_telemetry::testing::{values, Capture};
use pipeline_telemetry::{instrument_stage, PipelineRun};

#[instrument_stage(stage = "extract")]
fn extract(fail: bool) -> Result<(), std::io::Error> {
    if fail {
        return Err(std::io::Error::other("source gone"));
    }
    Ok(())
}

#[instrument_stage(stage = "load")]
fn load() -> Result<(), std::io::Error> {
    Ok(())
}

#[test]
fn a_hundred_pipelines_interleaved_keep_their_own_series() {
    // More overflow pipelines (past the first 16) than a thread has slots,
    // so that slots are shared and entries evict each other.
    const PIPELINES: usize = 100;
    const ROUNDS: usize = 3;
    let capture = Capture::start();
    let names: Vec<String> = (0..PIPELINES).map(|i| format!("many_{i}")).collect();
    for round in 0..ROUNDS {
        for (i, name) in names.iter().enumerate() {
            let run = PipelineRun::start(name, format!("{round}-{i}"));
            // Pipeline i fails its extract in round i % ROUNDS.
            let _ = run.in_scope(|| extract(i % ROUNDS == round));
            run.in_scope(load).expect("load");
            run.finish();
        }
    }
    let m = capture.finish();
    for (i, name) in names.iter().enumerate() {
        let tags = |stage: &'static str, status: &'static str| {
            [
                ("pipeline", name.as_str()),
                ("stage", stage),
                ("status", status),
            ]
        };
        let ok = values(&m, "pipeline.stage.duration", &tags("extract", "ok"));
        let err = values(&m, "pipeline.stage.duration", &tags("extract", "error"));
        let loads = values(&m, "pipeline.stage.duration", &tags("load", "ok"));
        assert_eq!(ok.len(), ROUNDS - 1, "pipeline {i}: extract ok");
        assert_eq!(err.len(), 1, "pipeline {i}: extract error");
        assert_eq!(loads.len(), ROUNDS, "pipeline {i}: load");
        let errors = values(
            &m,
            "pipeline.errors",
            &[("pipeline", name.as_str()), ("stage", "extract")],
        );
        assert_eq!(errors.iter().sum::<f64>(), 1.0, "pipeline {i}: errors");
    }
}
