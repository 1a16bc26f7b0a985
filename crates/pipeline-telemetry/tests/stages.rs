//! `#[instrument_stage]` on every kind of function, checked through the
//! in-memory capture.

use std::fmt;

use pipeline_telemetry::testing::{sum, values, Capture, ParsedMetric};
use pipeline_telemetry::{instrument_stage, PipelineRun};

const DURATION: &str = "pipeline.stage.duration";
const ERRORS: &str = "pipeline.errors";

#[derive(Debug)]
struct LoadError;
impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("warehouse unreachable")
    }
}

#[derive(Debug)]
struct DebugOnly;
struct Opaque;

#[instrument_stage]
fn extract(n: usize) -> Result<Vec<u32>, std::io::Error> {
    Ok((0..n as u32).collect())
}

#[instrument_stage(stage = "load")]
fn load(fail: bool) -> Result<(), LoadError> {
    if fail {
        return Err(LoadError);
    }
    Ok(())
}

#[instrument_stage]
fn count_rows(rows: &[u32]) -> usize {
    rows.len()
}

#[instrument_stage]
fn parse_all<T: std::str::FromStr>(raw: &[&str]) -> Result<Vec<T>, T::Err> {
    raw.iter().map(|s| s.parse::<T>()).collect()
}

#[instrument_stage]
fn debug_only() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

#[instrument_stage]
fn opaque() -> Result<(), Opaque> {
    Err(Opaque)
}

#[instrument_stage]
fn explode() -> Result<(), LoadError> {
    panic!("stage exploded")
}

#[instrument_stage(stage = "dbt")]
async fn transform(rows: Vec<u32>) -> Result<usize, std::io::Error> {
    tokio::task::yield_now().await;
    let n = extract(rows.len())?.len();
    Ok(n)
}

#[instrument_stage]
async fn never_ends() -> Result<(), std::io::Error> {
    std::future::pending::<()>().await;
    Ok(())
}

struct Warehouse {
    table: String,
}

impl Warehouse {
    #[instrument_stage(stage = "spark")]
    fn name(&self) -> &str {
        &self.table
    }

    #[instrument_stage]
    async fn merge(&mut self, suffix: &str) -> Result<&str, std::io::Error> {
        self.table.push_str(suffix);
        Ok(&self.table)
    }
}

fn durations<'a>(m: &'a [ParsedMetric], stage: &str) -> Vec<&'a ParsedMetric> {
    m.iter()
        .filter(|p| p.name == DURATION && p.tag("stage") == Some(stage))
        .collect()
}

#[test]
fn sync_stages_in_a_run_are_tagged_with_its_pipeline() {
    let capture = Capture::start();
    let run = PipelineRun::start("daily_etl", "42");
    let rows = run.in_scope(|| extract(3)).expect("extract");
    static EXTRACT: pipeline_telemetry::Stage = pipeline_telemetry::Stage::new("extract");
    run.record_records(&EXTRACT, rows.len() as u64);
    assert_eq!(run.in_scope(|| count_rows(&rows)), 3);
    run.finish();
    let m = capture.finish();
    assert_eq!(sum(&m, "pipeline.runs", &[("pipeline", "daily_etl")]), 1.0);
    assert_eq!(
        sum(
            &m,
            "pipeline.records",
            &[("pipeline", "daily_etl"), ("stage", "extract")]
        ),
        3.0
    );
    let d = durations(&m, "extract");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].tag("pipeline"), Some("daily_etl"));
    assert_eq!(d[0].tag("status"), Some("ok"));
    assert_eq!(d[0].values.len(), 1);
    assert!(d[0].values[0] >= 0.0 && d[0].values[0] < 5.0);
    assert!(m.iter().all(|p| !p.has_tag_key("pipeline_id")));
    assert_eq!(
        sum(&m, ERRORS, &[]),
        0.0,
        "a non-Result stage never counts an error"
    );
}

#[test]
fn errors_are_counted_with_their_type_and_fail_the_run() {
    let capture = Capture::start();
    {
        let run = PipelineRun::start("daily_etl", "43");
        assert!(run.in_scope(|| load(true)).is_err());
        // dropped without finish() after a failure: a failed run
    }
    let m = capture.finish();
    let errors = values(
        &m,
        ERRORS,
        &[("stage", "load"), ("error_type", "LoadError")],
    );
    assert_eq!(errors, vec![1.0]);
    assert_eq!(durations(&m, "load")[0].tag("status"), Some("error"));
    // One failed stage call, one error: the run's failure is its flow
    // duration's status, never a second error count.
    assert_eq!(sum(&m, ERRORS, &[]), 1.0);
    let flows = m
        .iter()
        .filter(|p| p.name == "prefect.flow.duration")
        .collect::<Vec<_>>();
    assert_eq!(flows.len(), 1, "{m:?}");
    assert_eq!(flows[0].tag("flow"), Some("daily_etl"));
    assert_eq!(flows[0].tag("status"), Some("failed"));
    assert_eq!(flows[0].values.len(), 1);
}

#[test]
fn generic_debug_only_and_opaque_errors() {
    let capture = Capture::start();
    let run = PipelineRun::start("typed", "1");
    let _entered = run.enter();
    assert_eq!(parse_all::<u8>(&["1", "2"]).expect("parses"), vec![1, 2]);
    assert!(parse_all::<u8>(&["x"]).is_err());
    assert!(debug_only().is_err());
    assert!(opaque().is_err());
    let m = capture.metrics();
    assert_eq!(
        sum(
            &m,
            ERRORS,
            &[("stage", "parse_all"), ("error_type", "ParseIntError")]
        ),
        1.0
    );
    assert_eq!(
        sum(
            &m,
            ERRORS,
            &[("stage", "debug_only"), ("error_type", "DebugOnly")]
        ),
        1.0
    );
    assert_eq!(
        sum(&m, ERRORS, &[("stage", "opaque"), ("error_type", "Opaque")]),
        1.0
    );
    assert_eq!(values(&m, DURATION, &[("stage", "parse_all")]).len(), 2);
}

#[test]
fn a_panicking_stage_counts_an_error_and_still_panics() {
    let capture = Capture::start();
    let run = PipelineRun::start("fragile", "7");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.in_scope(explode)));
    assert!(caught.is_err());
    run.finish();
    let m = capture.finish();
    assert_eq!(
        sum(&m, ERRORS, &[("stage", "explode"), ("error_type", "panic")]),
        1.0
    );
    assert_eq!(durations(&m, "explode")[0].tag("status"), Some("error"));
}

#[test]
fn methods_in_impl_blocks_and_async_stages() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let run = PipelineRun::start("daily_etl", "44");
        run.scope(async {
            let n = transform(vec![1, 2, 3]).await.expect("transform");
            assert_eq!(n, 3);
            let mut w = Warehouse {
                table: "events".into(),
            };
            assert_eq!(w.name(), "events");
            assert_eq!(w.merge("_v2").await.expect("merge"), "events_v2");
        })
        .await;
        run.finish();
    });
    let m = capture.finish();
    for stage in ["dbt", "extract", "spark", "merge"] {
        let d = durations(&m, stage);
        assert_eq!(d.len(), 1, "{stage}: {m:?}");
        assert_eq!(d[0].tag("pipeline"), Some("daily_etl"), "{stage}");
        assert_eq!(d[0].tag("status"), Some("ok"), "{stage}");
    }
}

#[test]
fn async_stage_duration_is_wall_time_from_first_poll() {
    #[instrument_stage]
    async fn sleepy() -> Result<(), std::io::Error> {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Ok(())
    }
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("rt");
    let awaited = rt.block_on(async {
        let fut = sleepy();
        // Created but not polled for a while: that time is not the stage's.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let polled = std::time::Instant::now();
        fut.await.expect("sleepy");
        polled.elapsed().as_secs_f64()
    });
    let m = capture.finish();
    let v = values(&m, DURATION, &[("stage", "sleepy")]);
    assert_eq!(v.len(), 1);
    // At most the time from the first poll to the end (measured around the
    // await, so a stalled machine cannot fail it), never the unpolled 100 ms.
    assert!(
        v[0] >= 0.045 && v[0] <= awaited + 0.001,
        "{v:?} vs {awaited}"
    );
}

#[test]
fn a_cancelled_async_stage_is_recorded_as_cancelled() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("rt");
    rt.block_on(async {
        let run = PipelineRun::start("cancel", "1");
        let r = run
            .scope(tokio::time::timeout(
                std::time::Duration::from_millis(10),
                never_ends(),
            ))
            .await;
        assert!(r.is_err());
        assert!(!run.has_failed(), "a cancelled stage does not fail its run");
    });
    let m = capture.finish();
    let d = durations(&m, "never_ends");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].tag("status"), Some("cancelled"));
    assert_eq!(d[0].tag("pipeline"), Some("cancel"));
    assert_eq!(sum(&m, ERRORS, &[("stage", "never_ends")]), 0.0);
}

#[test]
fn spawned_tasks_carry_the_run_with_scope() {
    let capture = Capture::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("rt");
    rt.block_on(async {
        let run = PipelineRun::start("fan_out", "9");
        let tasks: Vec<_> = (0..4)
            .map(|i| tokio::spawn(run.scope(async move { transform(vec![0; i]).await })))
            .collect();
        for t in tasks {
            t.await.expect("join").expect("transform");
        }
        run.finish();
    });
    let m = capture.finish();
    let d = values(&m, DURATION, &[("stage", "dbt"), ("pipeline", "fan_out")]);
    assert_eq!(d.len(), 4, "{m:?}");
}

#[test]
fn stages_outside_a_run_have_no_pipeline_tag() {
    let capture = Capture::start();
    assert_eq!(count_rows(&[1, 2]), 2);
    let m = capture.finish();
    let d = durations(&m, "count_rows");
    assert_eq!(d.len(), 1);
    assert!(!d[0].has_tag_key("pipeline"));
}
