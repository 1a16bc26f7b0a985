//! One failure, one count: when a stage passes the error of a stage it
//! called on (`?`), `pipeline.errors` is counted once, by the innermost
//! stage, with that stage's `error_type`; the outer stages still record
//! `status:error`. A typed error (`ErrorType`) keeps its own `error_type`
//! under `#[instrument_stage]`.

use std::sync::atomic::{AtomicU32, Ordering};

use pipeline_telemetry::testing::{sum, sums_by, values, Capture, ParsedMetric};
use pipeline_telemetry::{instrument_stage, ErrorType, PipelineRun, Stage};

const ERRORS: &str = "pipeline.errors";
const DURATION: &str = "pipeline.stage.duration";

#[derive(Debug)]
struct ExitCode(i32);
impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exited with {}", self.0)
    }
}
impl ErrorType for ExitCode {
    fn error_type(&self) -> &'static str {
        match self.0 {
            3 => "exit_3",
            _ => "exit_other",
        }
    }
}
impl From<ExitCode> for std::io::Error {
    fn from(e: ExitCode) -> Self {
        std::io::Error::other(e.to_string())
    }
}

#[instrument_stage]
fn inner_sync() -> Result<(), ExitCode> {
    Err(ExitCode(3))
}

#[instrument_stage]
fn outer_sync() -> Result<(), std::io::Error> {
    inner_sync()?;
    Ok(())
}

#[instrument_stage]
fn outermost_sync() -> Result<(), std::io::Error> {
    outer_sync()
}

#[instrument_stage]
async fn inner_async() -> Result<(), ExitCode> {
    tokio::task::yield_now().await;
    Err(ExitCode(3))
}

#[instrument_stage]
async fn outer_async() -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    inner_async().await?;
    Ok(())
}

/// Handles the inner failure, then fails on its own: two failures.
#[instrument_stage]
fn recovers_then_fails() -> Result<(), std::io::Error> {
    let _ = inner_sync();
    extract_ok()?;
    Err(std::io::Error::other("own failure"))
}

#[instrument_stage]
fn extract_ok() -> Result<(), std::io::Error> {
    Ok(())
}

#[instrument_stage]
fn inner_panics() -> Result<(), ExitCode> {
    panic!("inner exploded")
}

#[instrument_stage]
fn outer_of_panic() -> Result<(), ExitCode> {
    inner_panics()
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[instrument_stage(retry(attempts = 3, backoff = "none"))]
fn retried() -> Result<(), std::io::Error> {
    CALLS.fetch_add(1, Ordering::Relaxed);
    inner_sync()?;
    Ok(())
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

#[instrument_stage]
fn flaky_inner() -> Result<(), ExitCode> {
    if FLAKY_CALLS.fetch_add(1, Ordering::Relaxed) < 2 {
        return Err(ExitCode(3));
    }
    Ok(())
}

#[instrument_stage(retry(attempts = 3, backoff = "none"))]
fn recovers_on_attempt_3() -> Result<(), std::io::Error> {
    flaky_inner()?;
    Ok(())
}

static WRAPPER: Stage = Stage::new("wrapper");

/// `pipeline.errors` of `stage` by `error_type`, summed over flushes.
fn errors_of(m: &[ParsedMetric], stage: &str) -> Vec<(String, f64)> {
    sums_by(m, ERRORS, &[("stage", stage)], "error_type")
}

fn errored(m: &[ParsedMetric], stage: &str) -> usize {
    values(m, DURATION, &[("stage", stage), ("status", "error")]).len()
}

#[test]
fn a_failure_passed_on_through_nested_stages_is_counted_once_by_the_innermost() {
    let capture = Capture::start();
    let run = PipelineRun::start("nested", "1");
    run.in_scope(|| {
        assert!(outermost_sync().is_err());
        // `Stage::run` around a stage function.
        assert!(WRAPPER.run(outer_sync).is_err());
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    rt.block_on(run.scope(async {
        assert!(outer_async().await.is_err());
        assert!(WRAPPER.run_async(outer_async()).await.is_err());
    }));
    run.fail("stages failed");
    let m = capture.finish();

    // Four failures, each counted once by the innermost stage, typed.
    for outer in ["outer_sync", "outermost_sync", "outer_async", "wrapper"] {
        assert!(errors_of(&m, outer).is_empty(), "{outer}: {m:?}");
    }
    assert_eq!(sum(&m, ERRORS, &[]), 4.0);
    assert_eq!(errors_of(&m, "inner_sync"), vec![("exit_3".into(), 2.0)]);
    assert_eq!(errors_of(&m, "inner_async"), vec![("exit_3".into(), 2.0)]);
    // Every level still records its failed status.
    assert_eq!(errored(&m, "outer_sync"), 2);
    assert_eq!(errored(&m, "outermost_sync"), 1);
    assert_eq!(errored(&m, "outer_async"), 2);
    assert_eq!(errored(&m, "wrapper"), 2);
}

#[test]
fn an_own_failure_after_a_handled_inner_one_counts_and_panics_count_once() {
    let capture = Capture::start();
    let run = PipelineRun::start("nested_own", "1");
    run.in_scope(|| {
        assert!(recovers_then_fails().is_err());
        let caught = std::panic::catch_unwind(outer_of_panic);
        assert!(caught.is_err());
    });
    run.fail("stages failed");
    let m = capture.finish();
    assert!(errors_of(&m, "outer_of_panic").is_empty(), "{m:?}");
    assert_eq!(
        errors_of(&m, "recovers_then_fails"),
        vec![("io::Error".into(), 1.0)]
    );
    assert_eq!(errors_of(&m, "inner_panics"), vec![("panic".into(), 1.0)]);
    assert_eq!(errored(&m, "outer_of_panic"), 1);
}

#[test]
fn a_stage_inside_a_retried_stage_counts_each_of_its_failures_the_retried_stage_none() {
    let capture = Capture::start();
    let run = PipelineRun::start("nested_retry", "1");
    assert!(run.in_scope(retried).is_err());
    run.fail("retries exhausted");
    let m = capture.finish();
    assert_eq!(CALLS.load(Ordering::Relaxed), 3);
    // Three failed calls of the inner stage, the retried stage passes the
    // last one on.
    assert!(errors_of(&m, "retried").is_empty(), "{m:?}");
    assert_eq!(errors_of(&m, "inner_sync"), vec![("exit_3".into(), 3.0)]);
    assert_eq!(errored(&m, "retried"), 1);
    assert_eq!(
        sum(&m, "pipeline.stage.retries", &[("stage", "retried")]),
        2.0
    );
}

#[test]
fn a_typed_error_keeps_its_error_type_under_the_attribute() {
    let capture = Capture::start();
    assert!(inner_sync().is_err());
    let m = capture.finish();
    assert_eq!(errors_of(&m, "inner_sync"), vec![("exit_3".into(), 1.0)]);
}

#[test]
fn a_retry_that_recovers_keeps_the_counts_of_the_failed_inner_calls() {
    // Documented semantics: each failed call of a stage counts, also in an
    // attempt the retry recovers from; the retried stage counts nothing.
    let capture = Capture::start();
    let run = PipelineRun::start("nested_retry_ok", "1");
    run.in_scope(recovers_on_attempt_3)
        .expect("attempt 3 succeeds");
    run.finish();
    let m = capture.finish();
    assert_eq!(FLAKY_CALLS.load(Ordering::Relaxed), 3);
    assert_eq!(errors_of(&m, "flaky_inner"), vec![("exit_3".into(), 2.0)]);
    assert!(errors_of(&m, "recovers_on_attempt_3").is_empty(), "{m:?}");
    assert!(errors_of(&m, "run").is_empty(), "{m:?}");
    assert_eq!(
        sum(
            &m,
            "pipeline.stage.retries",
            &[("stage", "recovers_on_attempt_3")]
        ),
        2.0
    );
    let ok = values(
        &m,
        "prefect.flow.duration",
        &[("flow", "nested_retry_ok"), ("status", "ok")],
    );
    assert_eq!(ok.len(), 1, "the run is ok: {m:?}");
}
