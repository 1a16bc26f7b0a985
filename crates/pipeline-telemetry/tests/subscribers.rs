//! Runs, stages and `tracing` subscribers in every combination: no
//! subscriber, a global one, scoped ones (`with_default`, as tests capture
//! spans), the run's span owned by another subscriber than the stage's.
//! Never a panic; a stage under a subscriber that does not own its run's
//! span starts a fresh span there; metrics always go under the run.

use std::sync::{Arc, Mutex};

use pipeline_telemetry::testing::{values, Capture};
use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug)]
struct LoadError;
impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse down")
    }
}

#[instrument_stage]
fn extract() -> Result<u32, LoadError> {
    Ok(1)
}

#[instrument_stage]
fn load(fail: bool) -> Result<(), LoadError> {
    if fail {
        return Err(LoadError);
    }
    Ok(())
}

#[instrument_stage]
async fn transform() -> Result<u32, LoadError> {
    tokio::task::yield_now().await;
    Ok(2)
}

static CHECK: Stage = Stage::new("check");

/// (span name, parent span name) of every span a subscriber saw.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

struct Spans(Seen);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let parent = span.parent().map(|p| p.name().to_owned());
            let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
            seen.push((span.name().to_owned(), parent));
        }
    }
}

fn subscriber() -> (impl Subscriber + Send + Sync, Seen) {
    let seen = Seen::default();
    (
        tracing_subscriber::registry().with(Spans(seen.clone())),
        seen,
    )
}

fn stage_parents(seen: &Seen) -> Vec<Option<String>> {
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    seen.iter()
        .filter(|(n, _)| n == "pipeline.stage")
        .map(|(_, p)| p.clone())
        .collect()
}

/// Every kind of stage, one of them failing, in `run`.
fn stages(run: &PipelineRun) {
    run.in_scope(|| {
        extract().expect("extract");
        assert!(load(true).is_err());
        CHECK.run(|| Ok::<_, LoadError>(())).expect("check");
    });
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt")
        .block_on(run.scope(async {
            transform().await.expect("transform");
            CHECK
                .run_async(async { Ok::<_, LoadError>(()) })
                .await
                .expect("check");
        }));
}

#[test]
fn stages_never_panic_whichever_subscriber_owns_the_run() {
    let capture = Capture::start();

    // 1. No subscriber at all.
    let run = PipelineRun::start("combo_none", "1");
    stages(&run);
    drop(run);

    // 2. Run and stages under the same scoped subscriber: stage spans are
    //    children of the run span.
    let (same, same_seen) = subscriber();
    tracing::subscriber::with_default(same, || {
        let run = PipelineRun::start("combo_same", "2");
        stages(&run);
        drop(run);
    });
    let parents = stage_parents(&same_seen);
    assert_eq!(parents.len(), 5);
    assert!(
        parents.iter().all(|p| p.as_deref() == Some("pipeline.run")),
        "{parents:?}"
    );

    // 3. Run under subscriber A, stages under a scoped subscriber B: fresh
    //    stage spans in B (B never saw the run's span), no panic.
    let (a, a_seen) = subscriber();
    let run = tracing::subscriber::with_default(a, || PipelineRun::start("combo_scoped", "3"));
    let (b, b_seen) = subscriber();
    tracing::subscriber::with_default(b, || stages(&run));
    drop(run);
    let parents = stage_parents(&b_seen);
    assert_eq!(parents, vec![None; 5], "fresh stage spans under B");
    assert!(stage_parents(&a_seen).is_empty());

    // 4. Run with no subscriber, stages under a scoped one.
    let run = PipelineRun::start("combo_late", "4");
    let (c, c_seen) = subscriber();
    tracing::subscriber::with_default(c, || stages(&run));
    drop(run);
    assert_eq!(stage_parents(&c_seen), vec![None; 5]);

    // 5. Run under a global subscriber, stages under a scoped one, and
    //    under the global one again.
    let (global, global_seen) = subscriber();
    tracing::subscriber::set_global_default(global).expect("the only global subscriber");
    let run = PipelineRun::start("combo_global", "5");
    let (d, d_seen) = subscriber();
    tracing::subscriber::with_default(d, || stages(&run));
    assert_eq!(stage_parents(&d_seen), vec![None; 5]);
    stages(&run);
    drop(run);
    let parents = stage_parents(&global_seen);
    assert_eq!(parents.len(), 5, "{parents:?}");
    assert!(parents.iter().all(|p| p.as_deref() == Some("pipeline.run")));

    // Metrics: always under the run, whoever owned the spans.
    let m = capture.finish();
    for (pipeline, calls) in [
        ("combo_none", 1),
        ("combo_same", 1),
        ("combo_scoped", 1),
        ("combo_late", 1),
        ("combo_global", 2),
    ] {
        for stage in ["extract", "load", "transform"] {
            let d = values(
                &m,
                "pipeline.stage.duration",
                &[("pipeline", pipeline), ("stage", stage)],
            );
            assert_eq!(d.len(), calls, "{pipeline} {stage}");
        }
        assert_eq!(
            values(
                &m,
                "pipeline.stage.duration",
                &[("pipeline", pipeline), ("stage", "check")]
            )
            .len(),
            2 * calls
        );
        let flow = values(
            &m,
            "prefect.flow.duration",
            &[("flow", pipeline), ("status", "failed")],
        );
        assert_eq!(flow.len(), 1, "{pipeline}: a failed stage failed the run");
    }
}
