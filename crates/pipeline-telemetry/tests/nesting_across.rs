//! One failure, one count wherever the work runs: an inner stage on
//! another thread (`spawn_blocking`) or task (`tokio::spawn` with
//! `run.scope`), a sibling under `join!` that succeeds after the failing
//! one, an error converted by `?` (a `thiserror` `#[from]` wrapper, a
//! `Box<dyn Error>`) each count once; an outer stage that handles an inner
//! failure and then fails for its own reason counts its own failure, with
//! its own `error_type`; sibling stages failing with the same message
//! (the branches of a `join!`, tasks spawned in a stage) each count.

use pipeline_telemetry::testing::{sum, values, Capture, ParsedMetric};
use pipeline_telemetry::{instrument_stage, ErrorType, PipelineRun};

const ERRORS: &str = "pipeline.errors";
const DURATION: &str = "pipeline.stage.duration";

#[derive(Debug)]
struct ExitCode(i32);
impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exited with {}", self.0)
    }
}
impl std::error::Error for ExitCode {}
impl ErrorType for ExitCode {
    fn error_type(&self) -> &'static str {
        "exit_3"
    }
}

/// A wrapper whose message is its own; the inner error is its `source()`.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("load failed")]
    Exit(#[from] ExitCode),
}

#[instrument_stage]
fn inner_fails() -> Result<(), ExitCode> {
    Err(ExitCode(3))
}

#[instrument_stage]
async fn inner_fails_async() -> Result<(), ExitCode> {
    tokio::task::yield_now().await;
    Err(ExitCode(3))
}

#[instrument_stage]
async fn sibling_succeeds_later() -> Result<(), std::io::Error> {
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[instrument_stage]
async fn outer_blocking(run: PipelineRun) -> Result<(), std::io::Error> {
    let r = tokio::task::spawn_blocking(move || run.in_scope(inner_fails))
        .await
        .map_err(std::io::Error::other)?;
    r.map_err(std::io::Error::other)
}

#[instrument_stage]
async fn outer_spawned(run: PipelineRun) -> Result<(), std::io::Error> {
    let r = tokio::spawn(run.scope(inner_fails_async()))
        .await
        .map_err(std::io::Error::other)?;
    r.map_err(std::io::Error::other)
}

#[instrument_stage]
async fn outer_joined() -> Result<(), std::io::Error> {
    let (failed, ok) = tokio::join!(inner_fails_async(), sibling_succeeds_later());
    ok?;
    failed.map_err(std::io::Error::other)
}

/// Handles the inner failure, then fails on its own, no stage in between.
#[instrument_stage]
fn handles_then_fails() -> Result<(), std::io::Error> {
    let _ = inner_fails();
    Err(std::io::Error::other("own failure"))
}

#[instrument_stage]
fn outer_wrapped() -> Result<(), LoadError> {
    inner_fails()?;
    Ok(())
}

#[instrument_stage]
fn outer_of_wrapped() -> Result<(), LoadError> {
    outer_wrapped()
}

#[instrument_stage]
fn outer_boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    inner_fails()?;
    Ok(())
}

/// Fails with the same message every time (a service that is down).
#[instrument_stage]
async fn fetch(after_yields: usize) -> Result<(), std::io::Error> {
    for _ in 0..after_yields {
        tokio::task::yield_now().await;
    }
    Err(std::io::Error::other("connection refused"))
}

#[instrument_stage]
async fn fan_out_joined() -> Result<(), std::io::Error> {
    // The later-started branch fails first.
    let (a, b) = tokio::join!(fetch(3), fetch(0));
    b?;
    a
}

#[instrument_stage]
async fn fan_out_spawned(run: PipelineRun) -> Result<(), std::io::Error> {
    let a = tokio::spawn(run.scope(fetch(0)));
    let b = tokio::spawn(run.scope(fetch(2)));
    let (a, b) = (a.await, b.await);
    a.map_err(std::io::Error::other)??;
    b.map_err(std::io::Error::other)?
}

/// `pipeline.errors` of `pipeline`, summed by (stage, error_type).
fn errors(m: &[ParsedMetric], pipeline: &str) -> Vec<(String, String, f64)> {
    let mut by: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for p in m
        .iter()
        .filter(|p| p.name == ERRORS && p.tag("pipeline") == Some(pipeline))
    {
        let key = (
            p.tag("stage").unwrap_or_default().to_owned(),
            p.tag("error_type").unwrap_or_default().to_owned(),
        );
        *by.entry(key).or_default() += p.values.iter().sum::<f64>();
    }
    by.into_iter().map(|((s, t), n)| (s, t, n)).collect()
}

fn errored(m: &[ParsedMetric], pipeline: &str, stage: &str) -> usize {
    values(
        m,
        DURATION,
        &[
            ("pipeline", pipeline),
            ("stage", stage),
            ("status", "error"),
        ],
    )
    .len()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn once_by(stage: &str, error_type: &str) -> Vec<(String, String, f64)> {
    vec![(stage.to_owned(), error_type.to_owned(), 1.0)]
}

#[test]
fn an_inner_stage_on_a_blocking_thread_is_counted_once() {
    let capture = Capture::start();
    let run = PipelineRun::start("across_blocking", "1");
    let inner_run = run.clone();
    let r = runtime().block_on(run.scope(outer_blocking(inner_run)));
    assert!(r.is_err());
    run.fail("failed");
    let m = capture.finish();
    assert_eq!(
        errors(&m, "across_blocking"),
        once_by("inner_fails", "exit_3")
    );
    assert_eq!(errored(&m, "across_blocking", "outer_blocking"), 1);
}

#[test]
fn an_inner_stage_in_a_spawned_task_is_counted_once() {
    let capture = Capture::start();
    let run = PipelineRun::start("across_spawn", "1");
    let inner_run = run.clone();
    let r = runtime().block_on(run.scope(outer_spawned(inner_run)));
    assert!(r.is_err());
    run.fail("failed");
    let m = capture.finish();
    assert_eq!(
        errors(&m, "across_spawn"),
        once_by("inner_fails_async", "exit_3")
    );
    assert_eq!(errored(&m, "across_spawn", "outer_spawned"), 1);
}

#[test]
fn a_sibling_succeeding_after_the_failure_under_join_does_not_make_it_count_twice() {
    let capture = Capture::start();
    let run = PipelineRun::start("across_join", "1");
    let r = runtime().block_on(run.scope(outer_joined()));
    assert!(r.is_err());
    run.fail("failed");
    let m = capture.finish();
    assert_eq!(
        errors(&m, "across_join"),
        once_by("inner_fails_async", "exit_3")
    );
    assert_eq!(errored(&m, "across_join", "outer_joined"), 1);
}

#[test]
fn an_own_failure_right_after_a_handled_inner_one_counts_with_its_own_type() {
    let capture = Capture::start();
    let run = PipelineRun::start("across_handled", "1");
    assert!(run.in_scope(handles_then_fails).is_err());
    run.fail("failed");
    let m = capture.finish();
    let mut want = once_by("handles_then_fails", "io::Error");
    want.extend(once_by("inner_fails", "exit_3"));
    assert_eq!(errors(&m, "across_handled"), want);
    assert_eq!(sum(&m, ERRORS, &[("pipeline", "across_handled")]), 2.0);
}

#[test]
fn errors_converted_by_the_question_mark_are_counted_once() {
    let capture = Capture::start();
    let run = PipelineRun::start("across_from", "1");
    run.in_scope(|| {
        // `#[from]` wrapping, twice: the inner error is in the chain.
        assert!(outer_of_wrapped().is_err());
        // Boxed: the same message.
        assert!(outer_boxed().is_err());
    });
    run.fail("failed");
    let m = capture.finish();
    assert_eq!(
        errors(&m, "across_from"),
        vec![("inner_fails".to_owned(), "exit_3".to_owned(), 2.0)]
    );
    for outer in ["outer_wrapped", "outer_of_wrapped", "outer_boxed"] {
        assert_eq!(errored(&m, "across_from", outer), 1, "{outer}");
    }
}

#[test]
fn sibling_stages_failing_with_the_same_message_each_count() {
    let capture = Capture::start();
    let run = PipelineRun::start("across_siblings", "1");
    let rt = runtime();
    assert!(rt.block_on(run.scope(fan_out_joined())).is_err());
    assert!(rt
        .block_on(run.scope(fan_out_spawned(run.clone())))
        .is_err());
    // Top level, no stage around: the earlier-started branch fails first.
    let (a, b) = rt.block_on(run.scope(async { tokio::join!(fetch(0), fetch(2)) }));
    assert!(a.is_err() && b.is_err());
    run.fail("failed");
    let m = capture.finish();
    // Two per fan-out, two at the top level; the stages around pass on.
    assert_eq!(
        errors(&m, "across_siblings"),
        vec![("fetch".to_owned(), "io::Error".to_owned(), 6.0)]
    );
    assert_eq!(errored(&m, "across_siblings", "fan_out_joined"), 1);
    assert_eq!(errored(&m, "across_siblings", "fan_out_spawned"), 1);
}
