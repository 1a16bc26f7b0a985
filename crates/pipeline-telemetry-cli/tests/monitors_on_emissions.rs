//! The shipped monitors, firing and not firing in the local evaluator on
//! what instrumented stages really emit (DogStatsD lines captured from the
//! library's exporter), each capture stamped with the minute it stands for.

use pipeline_telemetry::testing::monitors::guide::{
    as_written_no_pipelines_running, no_pipelines_running, pipeline_failures, stage_duration_spike,
    Routing,
};
use pipeline_telemetry::testing::monitors::{MonitorState, Point};
use pipeline_telemetry::testing::Capture;
use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_dogstatsd::DistributionHandle;

const T0: u64 = 1_700_000_000;
const MIN: u64 = 60;

#[derive(Debug)]
struct LoadError;

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse refused the batch")
    }
}

#[instrument_stage]
fn extract() -> Result<u32, LoadError> {
    Ok(1)
}

#[instrument_stage]
fn spark() -> Result<u32, LoadError> {
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

/// One run per minute from `start` for `minutes` minutes; the runs at the
/// minutes in `failing` fail in `load`.
fn runs(capture: &mut Capture, start: u64, minutes: u64, failing: &[u64]) -> Vec<Point> {
    let mut points = Vec::new();
    for m in 0..minutes {
        let run = PipelineRun::start("daily_etl", m);
        run.in_scope(|| {
            let _ = extract();
            let _ = spark();
            let _ = load(failing.contains(&m));
        });
        // A healthy run finishes; a failed one ends failed when dropped.
        if run.has_failed() {
            drop(run);
        } else {
            run.finish();
        }
        points.extend(capture.take_points(start + m * MIN));
    }
    points
}

fn state(
    monitor: &pipeline_telemetry::testing::monitors::Monitor,
    points: &[Point],
    now: u64,
) -> MonitorState {
    monitor.evaluate(points, now)
}

#[test]
fn the_shipped_monitors_fire_and_stay_quiet_on_real_emissions() {
    let routing = Routing::default();
    let mut capture = Capture::start();

    // A steady, healthy stream: one run a minute for an hour.
    let healthy = runs(&mut capture, T0, 60, &[]);
    assert!(healthy.iter().any(|p| p.name == "pipeline.runs"));
    let runs_monitor = no_pipelines_running(&routing);
    let failures = pipeline_failures(&routing);
    let spike = stage_duration_spike(&routing);
    for minute in 1..=60 {
        let now = T0 + minute * MIN;
        assert_eq!(
            state(&runs_monitor, &healthy, now),
            MonitorState::Ok,
            "minute {minute}"
        );
        assert!(
            !failures.notifies(state(&failures, &healthy, now)),
            "minute {minute}"
        );
        assert_eq!(
            state(&spike, &healthy, now),
            MonitorState::Ok,
            "minute {minute}"
        );
    }
    // The guide's literal query pages on that same healthy stream.
    let literal = as_written_no_pipelines_running(&routing);
    assert_eq!(
        state(&literal, &healthy, T0 + 30 * MIN),
        MonitorState::Alert
    );

    // Runs stop: alert ten minutes after the last one, then NO DATA
    // (notified) once the Agent has stopped the series.
    let last = T0 + 59 * MIN;
    assert_eq!(
        state(&runs_monitor, &healthy, last + 10 * MIN),
        MonitorState::Alert
    );
    let later = state(&runs_monitor, &healthy, last + 25 * MIN);
    assert_eq!(later, MonitorState::NoData);
    assert!(runs_monitor.notifies(later));

    // Two failing runs: ALERT with the number of failed stage calls.
    let failing = runs(&mut capture, T0, 10, &[7, 8]);
    let groups = failures.evaluate_groups(&failing, T0 + 10 * MIN);
    assert_eq!(
        failures.evaluate(&failing, T0 + 10 * MIN),
        MonitorState::Alert
    );
    let counted: f64 = groups.iter().filter_map(|g| g.value).sum();
    assert_eq!(counted, 2.0, "{groups:?}");
    // Ten minutes later the errors have left the window.
    assert_ne!(
        failures.evaluate(&failing, T0 + 20 * MIN),
        MonitorState::Alert
    );
}

#[test]
fn the_spike_monitor_fires_on_slow_spark_stages() {
    let routing = Routing::default();
    let mut capture = Capture::start();
    // Real stages take microseconds here; the stage timer's 7 s samples are
    // recorded on the same series the spark stage emits to.
    let fast = runs(&mut capture, T0, 10, &[]);
    let spark = fast
        .iter()
        .find(|p| p.name == "pipeline.stage.duration" && p.tag("stage") == Some("spark"))
        .expect("the spark stage's duration")
        .clone();
    let tags: Vec<(String, String)> = spark
        .tags
        .iter()
        .filter_map(|t| t.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let tag_refs: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let slow = DistributionHandle::register("pipeline.stage.duration", &tag_refs);
    let mut points = Vec::new();
    for m in 0..10 {
        slow.record(7.0);
        points.extend(capture.take_points(T0 + m * MIN));
    }
    let monitor = stage_duration_spike(&routing);
    assert_eq!(monitor.evaluate(&fast, T0 + 10 * MIN), MonitorState::Ok);
    assert_eq!(
        monitor.evaluate(&points, T0 + 10 * MIN),
        MonitorState::Alert
    );
}
