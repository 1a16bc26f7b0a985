//! Run outcomes as a Datadog user graphs them: `pipeline.errors` once per
//! failed stage call, `prefect.flow.duration` once per run with its
//! status, panics of async stages counted and propagated.

use pipeline_telemetry::testing::{sum, values, Capture, ParsedMetric};
use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};

const ERRORS: &str = "pipeline.errors";
const DURATION: &str = "pipeline.stage.duration";
const FLOW: &str = "prefect.flow.duration";

#[derive(Debug)]
struct SparkError;
impl std::fmt::Display for SparkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("executor lost")
    }
}

#[instrument_stage]
async fn boom() -> Result<(), SparkError> {
    tokio::task::yield_now().await;
    panic!("stage exploded")
}

#[instrument_stage]
fn spark(fail: bool) -> Result<(), SparkError> {
    if fail {
        return Err(SparkError);
    }
    Ok(())
}

static UPLOAD: Stage = Stage::new("upload");

fn flows<'a>(m: &'a [ParsedMetric], flow: &str) -> Vec<&'a ParsedMetric> {
    m.iter()
        .filter(|p| p.name == FLOW && p.tag("flow") == Some(flow))
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime")
}

#[test]
fn an_async_stage_panic_is_an_error_fails_the_run_and_goes_on() {
    let capture = Capture::start();
    rt().block_on(async {
        let run = PipelineRun::start("fragile_async", "1");
        let joined = tokio::spawn(run.scope(boom())).await;
        let err = joined.expect_err("the panic reaches the runtime");
        assert!(err.is_panic());
        let joined = tokio::spawn(run.scope(UPLOAD.run_async(async {
            tokio::task::yield_now().await;
            if true {
                panic!("upload exploded");
            }
            Ok::<_, SparkError>(())
        })))
        .await;
        assert!(joined.expect_err("panics").is_panic());
        assert!(run.has_failed());
        drop(run);
    });
    let m = capture.finish();
    for stage in ["boom", "upload"] {
        assert_eq!(
            sum(&m, ERRORS, &[("stage", stage), ("error_type", "panic")]),
            1.0,
            "{stage}: {m:?}"
        );
        let d = values(
            &m,
            DURATION,
            &[
                ("stage", stage),
                ("pipeline", "fragile_async"),
                ("status", "error"),
            ],
        );
        assert_eq!(d.len(), 1, "{stage}");
        assert!(values(&m, DURATION, &[("stage", stage), ("status", "cancelled")]).is_empty());
    }
    let f = flows(&m, "fragile_async");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].tag("status"), Some("failed"));
}

#[test]
fn a_failed_run_counts_one_error_per_failed_stage_and_one_failed_flow() {
    let capture = Capture::start();
    // Four runs, one fails at spark: the guide's failure rate is 1/4.
    for i in 0..4 {
        let run = PipelineRun::start("nightly", i);
        let r = run.in_scope(|| spark(i == 2));
        match r {
            Ok(()) => run.finish(),
            Err(e) => run.fail(e),
        }
    }
    // A run ended with `fail` without any failed stage.
    PipelineRun::start("manual", "m").fail("operator stopped it");
    // A failed stage that was retried does not fail its run.
    let run = PipelineRun::start("retried", "r");
    run.in_scope(|| {
        let _ = spark(true);
        spark(false)
    })
    .expect("second attempt");
    run.finish();
    let m = capture.finish();

    assert_eq!(sum(&m, "pipeline.runs", &[("pipeline", "nightly")]), 4.0);
    assert_eq!(sum(&m, ERRORS, &[("pipeline", "nightly")]), 1.0);
    assert_eq!(
        sum(
            &m,
            ERRORS,
            &[("stage", "spark"), ("error_type", "SparkError")]
        ),
        2.0
    );
    // The run that failed with no failed stage counts its failure itself,
    // once; the runs whose stage counted do not count again.
    assert_eq!(
        sum(
            &m,
            ERRORS,
            &[
                ("pipeline", "manual"),
                ("stage", "run"),
                ("error_type", "run_failed")
            ]
        ),
        1.0
    );
    assert_eq!(sum(&m, ERRORS, &[("pipeline", "manual")]), 1.0);
    assert_eq!(
        sum(&m, ERRORS, &[("pipeline", "nightly"), ("stage", "run")]),
        0.0
    );
    let f = flows(&m, "nightly");
    let failed = f.iter().filter(|p| p.tag("status") == Some("failed"));
    let ok = f.iter().filter(|p| p.tag("status") == Some("ok"));
    assert_eq!(failed.map(|p| p.values.len()).sum::<usize>(), 1);
    assert_eq!(ok.map(|p| p.values.len()).sum::<usize>(), 3);
    assert_eq!(flows(&m, "manual")[0].tag("status"), Some("failed"));
    assert_eq!(flows(&m, "retried")[0].tag("status"), Some("ok"));
    for p in m.iter().filter(|p| p.name == FLOW) {
        assert!(!p.has_tag_key("pipeline_id"));
        assert!(p.values.iter().all(|v| (0.0..60.0).contains(v)), "{p:?}");
    }
}

#[test]
fn a_run_ends_once_whichever_handle_goes_last() {
    let capture = Capture::start();
    let run = PipelineRun::start("shared", "s");
    let clones: Vec<_> = (0..4).map(|_| run.clone()).collect();
    let threads: Vec<_> = clones
        .into_iter()
        .map(|r| std::thread::spawn(move || r.in_scope(|| spark(false))))
        .collect();
    for t in threads {
        t.join().expect("join").expect("spark");
    }
    drop(run);
    let m = capture.finish();
    assert_eq!(flows(&m, "shared").len(), 1);
    assert_eq!(flows(&m, "shared")[0].values.len(), 1);
    assert_eq!(
        values(&m, DURATION, &[("pipeline", "shared"), ("stage", "spark")]).len(),
        4
    );
}

#[test]
fn a_run_is_a_send_sync_clone_handle_and_its_scope_is_send() {
    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send>(_: &T) {}
    send_sync_clone::<PipelineRun>();
    let run = PipelineRun::start("handle", "h");
    let fut = run.scope(async { spark(false) });
    send(&fut);
    drop(fut);
    run.finish();
}
