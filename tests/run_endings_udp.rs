//! Every way a run ends, over a real UDP socket: finished, failed by a
//! stage, cancelled by a timeout, `select!`, an abort and a runtime shut
//! down, left through `?` on an error of no stage, and an
//! `#[instrument_run]` function returning `Err`. On the wire, each run is
//! one `prefect.flow.duration` with `status:ok` or `status:failed` only, so
//! the dashboard's "Failed runs (%)" formula
//! (`count:prefect.flow.duration{status:failed}` / all) reads exactly the
//! share of runs that did not finish well; and each run that failed with
//! no failed stage counts one `pipeline.errors{stage:run}`, so the guide's
//! "Pipeline failures" monitor fires on it.

use std::future::pending;
use std::time::Duration;

use pipeline_telemetry::testing::{parse_datagram, ParsedMetric};
use pipeline_telemetry::TelemetryBuilder;
use pipeline_telemetry::{instrument_run, instrument_stage, MetricsTarget, PipelineRun};
use pipeline_telemetry_monitors::guide::{pipeline_failures, Routing};
use pipeline_telemetry_monitors::{points_from_parsed, MonitorState};
use pipeline_telemetry_test_support::UdpReceiver;
use tokio::sync::oneshot;

const FLOW: &str = "prefect.flow.duration";

#[instrument_stage]
fn extract(fail: bool) -> Result<u32, std::io::Error> {
    if fail {
        return Err(std::io::Error::other("source down"));
    }
    Ok(1)
}

/// A run's code; with `hang`, says so from inside the run (when given a
/// sender) and never ends.
async fn job(
    pipeline: &'static str,
    hang: bool,
    started: Option<oneshot::Sender<()>>,
) -> Result<(), std::io::Error> {
    let run = PipelineRun::start(pipeline, "1");
    run.scope(async {
        extract(false)?;
        if let Some(tx) = started {
            let _ = tx.send(());
        }
        if hang {
            pending::<()>().await;
        }
        Ok::<_, std::io::Error>(())
    })
    .await?;
    run.finish();
    Ok(())
}

fn left_early() -> Result<(), std::num::ParseIntError> {
    let run = PipelineRun::start("udp_runs", "early");
    run.in_scope(|| extract(false)).expect("extract");
    let _n: u32 = "x".parse()?;
    run.finish();
    Ok(())
}

#[instrument_run(pipeline = "udp_runs")]
async fn attributed(fail: bool) -> Result<(), std::io::Error> {
    extract(false)?;
    if fail {
        return Err(std::io::Error::other("missing setting"));
    }
    Ok(())
}

fn flows(m: &[ParsedMetric], status: &str) -> usize {
    m.iter()
        .filter(|p| p.name == FLOW && p.tag("flow") == Some("udp_runs"))
        .filter(|p| status == "*" || p.tag("status") == Some(status))
        .map(|p| p.values.len())
        .sum()
}

#[test]
fn every_run_that_did_not_finish_well_arrives_failed() {
    let receiver = UdpReceiver::bind().expect("bind a UDP socket on 127.0.0.1");
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Udp(receiver.addr()))
        .with_flush_interval(Duration::from_millis(100))
        .without_otel()
        .quiet()
        .try_init()
        .expect("init");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // 3 finished well.
        job("udp_runs", false, None).await.expect("ok");
        job("udp_runs", false, None).await.expect("ok");
        attributed(false).await.expect("ok");
        // 1 failed by a stage, ended with fail().
        let run = PipelineRun::start("udp_runs", "stage");
        let r = run.in_scope(|| extract(true));
        run.fail(r.expect_err("fails"));
        // Timeout, select!, abort.
        // Timeout (it polls its future before its deadline: the run starts).
        let timed =
            tokio::time::timeout(Duration::from_millis(20), job("udp_runs", true, None)).await;
        assert!(timed.is_err());
        // `select!` and abort, each once the run has started.
        let (tx, rx) = oneshot::channel();
        tokio::select! {
            _ = job("udp_runs", true, Some(tx)) => unreachable!(),
            r = rx => r.expect("the run started"),
        }
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(job("udp_runs", true, Some(tx)));
        tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .expect("the run started in time")
            .expect("the run started");
        task.abort();
        assert!(task.await.expect_err("aborted").is_cancelled());
        // `#[instrument_run]` returning a non-stage error.
        assert!(attributed(true).await.is_err());
    });
    // A runtime shut down under a pending run.
    let doomed = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    doomed.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let run = PipelineRun::start("udp_runs", "shutdown");
            run.scope(async {
                let _ = tx.send(());
                pending::<()>().await
            })
            .await;
            run.finish();
        });
        rx.await.expect("the run's task was polled");
    });
    drop(doomed);
    // Left through `?` on an error of no stage.
    assert!(left_early().is_err());
    drop(rt);
    drop(telemetry);

    let mut m = Vec::new();
    for d in receiver.drain(Duration::from_millis(300)) {
        let text = std::str::from_utf8(&d).expect("utf-8");
        m.extend(parse_datagram(text).unwrap_or_else(|e| panic!("unparseable: {e}")));
    }
    let started: f64 = m
        .iter()
        .filter(|p| p.name == "pipeline.runs" && p.tag("pipeline") == Some("udp_runs"))
        .flat_map(|p| p.values.iter())
        .sum();
    assert_eq!(started, 10.0, "{m:?}");
    // Every run ended once, ok or failed, nothing else.
    assert_eq!(flows(&m, "*"), 10, "{m:?}");
    assert_eq!(flows(&m, "ok"), 3, "{m:?}");
    assert_eq!(flows(&m, "failed"), 7, "{m:?}");
    // The dashboard's formula: 100 * failed / all.
    let rate = 100.0 * flows(&m, "failed") as f64 / flows(&m, "*") as f64;
    assert_eq!(rate, 70.0);
    // One stage failed: one error counted by the stage (its run does not
    // count again); each of the 6 runs that failed with no failed stage
    // counts one, `stage:run`, with why it failed.
    let errors = |stage: &str, error_type: &str| -> f64 {
        m.iter()
            .filter(|p| p.name == "pipeline.errors")
            .filter(|p| p.tag("stage") == Some(stage))
            .filter(|p| error_type == "*" || p.tag("error_type") == Some(error_type))
            .flat_map(|p| p.values.iter())
            .sum()
    };
    assert_eq!(errors("extract", "io::Error"), 1.0, "{m:?}");
    assert_eq!(errors("run", "run_cancelled"), 4.0, "{m:?}");
    assert_eq!(errors("run", "run_unfinished"), 1.0, "{m:?}");
    assert_eq!(errors("run", "io::Error"), 1.0, "{m:?}");
    assert_eq!(errors("run", "*"), 6.0, "{m:?}");
    let all: f64 = m
        .iter()
        .filter(|p| p.name == "pipeline.errors")
        .flat_map(|p| p.values.iter())
        .sum();
    assert_eq!(all, 7.0, "{m:?}");

    // The guide's "Pipeline failures" monitor fires on the runs that failed
    // with no failed stage alone (the stage's own error left out).
    let now = 1_700_000_000;
    let no_stage_failed: Vec<ParsedMetric> = m
        .iter()
        .filter(|p| !(p.name == "pipeline.errors" && p.tag("stage") == Some("extract")))
        .cloned()
        .collect();
    let points = points_from_parsed(&no_stage_failed, now).expect("points");
    let monitor = pipeline_failures(&Routing::default());
    assert_eq!(monitor.evaluate(&points, now + 60), MonitorState::Alert);
}
