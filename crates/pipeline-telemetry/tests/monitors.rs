//! The guide's monitors evaluated locally on what instrumented stages
//! really emit: a failing stage fires "pipeline failures", and so does a
//! run cancelled with no failed stage; a spark stage
//! averaging 7 s fires "stage duration spike" (3 s does not), and runs that
//! stop fire "no pipelines running".

use pipeline_telemetry::testing::monitors::guide::{
    no_pipelines_running, pipeline_failures, stage_duration_spike, Routing,
};
use pipeline_telemetry::testing::monitors::{MonitorState, Point};
use pipeline_telemetry::testing::Capture;
use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_dogstatsd::DistributionHandle;

const T0: u64 = 1_700_000_000;

#[derive(Debug)]
struct LoadError;
impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("load failed")
    }
}

#[instrument_stage]
fn extract() -> Result<u32, LoadError> {
    Ok(1)
}

#[instrument_stage]
fn load(fail: bool) -> Result<(), LoadError> {
    if fail {
        Err(LoadError)
    } else {
        Ok(())
    }
}

/// One run per minute for `minutes`, failing at minute `fail_at`.
fn runs(capture: &mut Capture, start: u64, minutes: u64, fail_at: Option<u64>) -> Vec<Point> {
    let mut points = Vec::new();
    for m in 0..minutes {
        let run = PipelineRun::start("daily_etl", m);
        run.in_scope(|| {
            let _ = extract();
            let _ = load(fail_at == Some(m));
        });
        // A healthy run finishes; a failed one ends failed when dropped.
        if run.has_failed() {
            drop(run);
        } else {
            run.finish();
        }
        points.extend(capture.take_points(start + m * 60));
    }
    points
}

/// One run per minute for `minutes`; at minute `bad_at` the run is
/// cancelled (dropped without `finish`) while none of its stages failed.
fn runs_one_cancelled(capture: &mut Capture, start: u64, minutes: u64, bad_at: u64) -> Vec<Point> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut points = Vec::new();
    for m in 0..minutes {
        let run = PipelineRun::start("daily_etl", m);
        if m == bad_at {
            // A future of the run dropped before it completed, then the run.
            rt.block_on(async {
                tokio::select! {
                    biased;
                    _ = run.scope(async {
                        let _ = extract();
                        std::future::pending::<()>().await;
                    }) => unreachable!("never ends"),
                    _ = async {} => {}
                }
            });
            drop(run);
        } else {
            rt.block_on(run.scope(async {
                let _ = extract();
            }));
            run.finish();
        }
        points.extend(capture.take_points(start + m * 60));
    }
    points
}

/// Spark stage durations (as the stage timer would record them) for 10 minutes.
fn spark_durations(capture: &mut Capture, seconds: f64) -> Vec<Point> {
    let h = DistributionHandle::register(
        "pipeline.stage.duration",
        &[
            ("pipeline", "daily_etl"),
            ("stage", "spark"),
            ("status", "ok"),
        ],
    );
    let mut points = Vec::new();
    for m in 0..10 {
        h.record(seconds);
        points.extend(capture.take_points(T0 + m * 60));
    }
    points
}

#[test]
fn the_guides_monitors_fire_on_real_emissions() {
    let routing = Routing::default();
    let mut capture = Capture::start();

    let healthy = runs(&mut capture, T0, 10, None);
    let failing = runs(&mut capture, T0, 10, Some(8));
    let failures = pipeline_failures(&routing);
    assert_ne!(failures.evaluate(&healthy, T0 + 600), MonitorState::Alert);
    assert_eq!(failures.evaluate(&failing, T0 + 600), MonitorState::Alert);
    // A run that fails with no failed stage (cancelled) fires it too.
    let cancelled = runs_one_cancelled(&mut capture, T0, 10, 8);
    assert_eq!(failures.evaluate(&cancelled, T0 + 600), MonitorState::Alert);

    let spike = stage_duration_spike(&routing);
    let slow = spark_durations(&mut capture, 7.0);
    let fine = spark_durations(&mut capture, 3.0);
    assert_eq!(spike.evaluate(&slow, T0 + 600), MonitorState::Alert);
    assert_eq!(spike.evaluate(&fine, T0 + 600), MonitorState::Ok);

    // Ten minutes of runs, then ten minutes without any.
    let no_runs = no_pipelines_running(&routing);
    let stopped = runs(&mut capture, T0, 10, None);
    assert!(no_runs.notifies(no_runs.evaluate(&stopped, T0 + 1200)));
}
