//! Every run ends with the status it earned: a run dropped without
//! `finish()` (its future cancelled by a timeout, `select!`, an abort or a
//! runtime shutting down; or left through `?` on an error of no stage) is
//! `status:failed`, never `ok`, and `#[instrument_run]` fails its run on
//! any `Err`; a failed run in which no stage failure was counted counts
//! one `pipeline.errors` (`stage:run`) with why it failed, so that the
//! "Pipeline failures" monitor sees it. Checked on the
//! `prefect.flow.duration` and `pipeline.errors` lines the exporter
//! writes (in memory here; over real UDP in the suite's
//! `tests/run_endings_udp.rs`).

use std::future::pending;
use std::time::Duration;

use pipeline_telemetry::testing::{sum, values, Capture, ParsedMetric};
use pipeline_telemetry::{instrument_run, instrument_stage, PipelineRun};
use tokio::sync::oneshot;

const FLOW: &str = "prefect.flow.duration";

#[instrument_stage]
fn extract() -> Result<u32, std::io::Error> {
    Ok(1)
}

/// A run's code as users write it: stages in `scope`, then `finish`.
/// Says `started` from inside the run, then never ends.
async fn job(
    pipeline: &'static str,
    started: Option<oneshot::Sender<()>>,
) -> Result<(), std::io::Error> {
    let run = PipelineRun::start(pipeline, "1");
    run.scope(async {
        extract()?;
        if let Some(tx) = started {
            let _ = tx.send(());
        }
        pending::<()>().await;
        Ok::<_, std::io::Error>(())
    })
    .await?;
    run.finish();
    Ok(())
}

/// A config error (no stage's) returned with `?` before `finish`.
fn early_return(pipeline: &str) -> Result<(), std::io::Error> {
    let run = PipelineRun::start(pipeline, "1");
    run.in_scope(extract)?;
    let _config: u32 = "not a number"
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    run.finish();
    Ok(())
}

#[instrument_run(pipeline = "ir_config_error")]
fn with_config_error() -> Result<(), std::io::Error> {
    extract()?;
    Err(std::io::Error::other("missing setting"))
}

#[instrument_run(pipeline = "ir_async_config_error")]
async fn with_async_config_error() -> Result<(), std::io::Error> {
    extract()?;
    tokio::task::yield_now().await;
    Err(std::io::Error::other("missing setting"))
}

#[instrument_run(pipeline = "ir_cancelled")]
async fn never_ends() -> Result<(), std::io::Error> {
    extract()?;
    pending::<()>().await;
    Ok(())
}

fn statuses(m: &[ParsedMetric], flow: &str) -> (usize, usize) {
    let n = |status| values(m, FLOW, &[("flow", flow), ("status", status)]).len();
    (n("ok"), n("failed"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime")
}

#[test]
fn runs_that_end_badly_are_failed_never_ok() {
    let capture = Capture::start();
    let rt = runtime();
    rt.block_on(async {
        // A timeout around the run's code.
        // (A timeout polls its future before its deadline: the run starts.)
        let r = tokio::time::timeout(Duration::from_millis(20), job("timed_out", None)).await;
        assert!(r.is_err(), "timed out");
        // `select!`: another branch wins, once the run has started.
        let (tx, rx) = oneshot::channel();
        tokio::select! {
            _ = job("lost_select", Some(tx)) => unreachable!("never ends"),
            r = rx => r.expect("the run started"),
        }
        // An aborted task, aborted once its run has started.
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(job("aborted", Some(tx)));
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the run started in time")
            .expect("the run started");
        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        // `#[instrument_run]` cancelled.
        let r = tokio::time::timeout(Duration::from_millis(20), never_ends()).await;
        assert!(r.is_err(), "timed out");
        // `#[instrument_run]` returning a non-stage `Err`.
        assert!(with_async_config_error().await.is_err());
    });
    // A runtime shut down with a run's task still pending.
    let rt2 = runtime();
    let (tx, rx) = std::sync::mpsc::channel();
    rt2.spawn(async move {
        let run = PipelineRun::start("shut_down", "1");
        run.scope(async {
            let _ = tx.send(());
            pending::<()>().await
        })
        .await;
        run.finish();
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("task started");
    drop(rt2);
    // Left through `?` on an error of no stage; `#[instrument_run]` sync.
    assert!(early_return("ends_early").is_err());
    assert!(with_config_error().is_err());
    // A run that finishes is still ok.
    let run = PipelineRun::start("finished", "1");
    run.in_scope(extract).expect("extract");
    run.finish();
    drop(rt);
    let m = capture.finish();

    let wrong: Vec<_> = [
        "timed_out",
        "lost_select",
        "aborted",
        "ir_cancelled",
        "ir_async_config_error",
        "shut_down",
        "ends_early",
        "ir_config_error",
    ]
    .into_iter()
    .map(|flow| (flow, statuses(&m, flow)))
    .filter(|(_, ok_failed)| *ok_failed != (0, 1))
    .collect();
    assert!(wrong.is_empty(), "(ok, failed) runs: {wrong:?}");
    assert_eq!(statuses(&m, "finished"), (1, 0));
    // No stage failed: each failed run counts one `pipeline.errors` itself,
    // `stage:run`, with why it failed.
    let run_errors = |flow, error_type| {
        values(
            &m,
            "pipeline.errors",
            &[
                ("pipeline", flow),
                ("stage", "run"),
                ("error_type", error_type),
            ],
        )
        .iter()
        .sum::<f64>()
    };
    for flow in [
        "timed_out",
        "lost_select",
        "aborted",
        "ir_cancelled",
        "shut_down",
    ] {
        assert_eq!(run_errors(flow, "run_cancelled"), 1.0, "{flow}: {m:?}");
    }
    assert_eq!(run_errors("ends_early", "run_unfinished"), 1.0, "{m:?}");
    for flow in ["ir_config_error", "ir_async_config_error"] {
        assert_eq!(run_errors(flow, "io::Error"), 1.0, "{flow}: {m:?}");
    }
    // Nothing else for these runs (other tests' runs may be captured too).
    let flows = [
        "timed_out",
        "lost_select",
        "aborted",
        "ir_cancelled",
        "shut_down",
        "ends_early",
        "ir_config_error",
        "ir_async_config_error",
    ];
    let counted: f64 = flows
        .iter()
        .map(|f| sum(&m, "pipeline.errors", &[("pipeline", f)]))
        .sum();
    assert_eq!(counted, 8.0, "{m:?}");
    assert_eq!(sum(&m, "pipeline.errors", &[("pipeline", "finished")]), 0.0);
}

#[test]
fn a_run_dropped_after_finishing_its_scope_is_failed_and_one_that_finished_is_ok() {
    let capture = Capture::start();
    {
        // Entered with a guard, dropped without finish.
        let run = PipelineRun::start("guard_dropped", "1");
        let _entered = run.enter();
        extract().expect("extract");
    }
    let run = PipelineRun::start("clones", "1");
    let clone = run.clone();
    drop(clone);
    run.finish();
    let m = capture.finish();
    assert_eq!(statuses(&m, "guard_dropped"), (0, 1));
    assert_eq!(statuses(&m, "clones"), (1, 0), "one end, when finished");
}

/// `error.type` values recorded on `pipeline.run` spans.
#[derive(Clone, Default)]
struct RunErrorTypes(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S> tracing_subscriber::Layer<S> for RunErrorTypes
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit<'a>(&'a mut Option<String>);
        impl tracing::field::Visit for Visit<'_> {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "error.type" {
                    *self.0 = Some(value.to_owned());
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        if ctx.span(id).is_some_and(|s| s.name() == "pipeline.run") {
            let mut found = None;
            values.record(&mut Visit(&mut found));
            if let Some(v) = found {
                self.0.lock().unwrap_or_else(|e| e.into_inner()).push(v);
            }
        }
    }
}

#[test]
fn a_run_span_says_why_a_dropped_run_failed() {
    use tracing_subscriber::layer::SubscriberExt;
    let seen = RunErrorTypes::default();
    let subscriber = tracing_subscriber::registry().with(seen.clone());
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let r =
                tokio::time::timeout(Duration::from_millis(10), job("span_cancelled", None)).await;
            assert!(r.is_err());
        });
        assert!(early_return("span_ends_early").is_err());
        let run = PipelineRun::start("span_finished", "1");
        run.finish();
    });
    let seen = seen.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(
        seen,
        vec![
            pipeline_telemetry::RUN_CANCELLED.to_owned(),
            pipeline_telemetry::RUN_UNFINISHED.to_owned()
        ]
    );
}
