//! The current run follows the task, never the thread: 120 concurrent runs
//! of 5 pipelines in tasks forced to interleave (`yield_now` inside and
//! between stages), on a 2-worker runtime and on a current-thread runtime,
//! with crossings into `tokio::spawn`, `spawn_blocking` and `std::thread`,
//! plus tasks that have no run.
//!
//! Two outside truths:
//! - the DogStatsD datagrams on a real UDP socket: for every pipeline and
//!   stage, the exact number of `pipeline.stage.duration` samples tagged
//!   with that pipeline, and none for a task without a run;
//! - tracing-subscriber's registry: every stage span's parent is exactly
//!   the span of the run that task started (checked against the id the
//!   task itself passes down), and a stage of a task without a run has no
//!   run span above it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pipeline_telemetry::testing::{parse_line, ParsedMetric};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, Stage, TelemetryBuilder};
use pipeline_telemetry_test_support::UdpReceiver;
use tokio::task::yield_now;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const PIPELINES: usize = 5;
const RUNS: usize = 120;
const BATCHES: usize = 3;
const NO_RUN_TASKS: usize = 10;
const NONE: &str = "none";

static LOAD: Stage = Stage::new("load");
static CHECK: Stage = Stage::new("check");

/// What a stage saw of its span tree: (expected run id, parent run id).
static SEEN: Mutex<Vec<(String, Option<String>)>> = Mutex::new(Vec::new());

/// Tells the recorder layer which run this stage call belongs to.
fn note(expected: &str) {
    tracing::info!(expected, "stage body");
}

#[instrument_stage]
fn extract(id: &str) -> Result<u32, std::io::Error> {
    note(id);
    Ok(1)
}

#[instrument_stage]
async fn transform(id: String) -> Result<u32, std::io::Error> {
    yield_now().await;
    note(&id);
    yield_now().await;
    Ok(2)
}

async fn one_run(prefix: &'static str, i: usize) -> Result<(), std::io::Error> {
    let pipeline = format!("{prefix}_p{}", i % PIPELINES);
    let id = format!("{prefix}-{i}");
    let run = PipelineRun::start(&pipeline, &id);
    run.scope(async {
        for _ in 0..BATCHES {
            extract(&id)?;
            yield_now().await;
            transform(id.clone()).await?;
            LOAD.run_async(async {
                yield_now().await;
                note(&id);
                Ok::<_, std::io::Error>(())
            })
            .await?;
            CHECK.run(|| {
                note(&id);
                Ok::<_, std::io::Error>(())
            })?;
        }
        // Explicit crossings: a blocking task, another task, a thread.
        let here = PipelineRun::current().expect("the run is current in its scope");
        let blocking_id = id.clone();
        tokio::task::spawn_blocking(move || here.in_scope(|| extract(&blocking_id)))
            .await
            .expect("join")?;
        tokio::spawn(run.scope(transform(id.clone())))
            .await
            .expect("join")?;
        let thread_run = run.clone();
        let thread_id = id.clone();
        std::thread::spawn(move || {
            thread_run.in_scope(|| {
                CHECK.run(|| {
                    note(&thread_id);
                    Ok::<_, std::io::Error>(())
                })
            })
        })
        .join()
        .expect("join")?;
        Ok::<_, std::io::Error>(())
    })
    .await?;
    run.finish();
    Ok(())
}

async fn no_run_task() -> Result<(), std::io::Error> {
    for _ in 0..BATCHES {
        yield_now().await;
        extract(NONE)?;
        transform(NONE.to_owned()).await?;
    }
    assert!(
        PipelineRun::current().is_none(),
        "a task with no run has no run"
    );
    Ok(())
}

async fn workload(prefix: &'static str) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..RUNS {
        set.spawn(one_run(prefix, i));
        if i % (RUNS / NO_RUN_TASKS) == 0 {
            set.spawn(no_run_task());
        }
    }
    while let Some(r) = set.join_next().await {
        r.expect("task").expect("stages");
    }
}

/// Records the run id of each run span, and for each stage body event,
/// whether the stage span's parent is a run span and which.
struct Recorder;

struct RunId(String);

#[derive(Default)]
struct Fields {
    pipeline_id: Option<String>,
    expected: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "pipeline_id" => self.pipeline_id = Some(value.to_owned()),
            "expected" => self.expected = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != pipeline_telemetry::RUN_SPAN {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let (Some(span), Some(pid)) = (ctx.span(id), f.pipeline_id) {
            span.extensions_mut().insert(RunId(pid));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let Some(expected) = f.expected else { return };
        let stage = ctx.event_span(event);
        assert_eq!(
            stage.as_ref().map(|s| s.name()),
            Some(pipeline_telemetry::STAGE_SPAN),
            "a stage body runs in its stage span"
        );
        // The stage span's direct parent, if it is a run span.
        let parent_run = stage.and_then(|s| s.parent()).and_then(|p| {
            (p.name() == pipeline_telemetry::RUN_SPAN)
                .then(|| p.extensions().get::<RunId>().map(|r| r.0.clone()))
                .flatten()
        });
        let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        seen.push((expected, parent_run));
    }
}

fn samples(m: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> usize {
    m.iter()
        .filter(|p| p.name == name && tags.iter().all(|(k, v)| p.tag(k) == Some(*v)))
        .map(|p| p.values.len())
        .sum()
}

fn sum(m: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> f64 {
    m.iter()
        .filter(|p| p.name == name && tags.iter().all(|(k, v)| p.tag(k) == Some(*v)))
        .flat_map(|p| p.values.iter())
        .sum()
}

fn check_wire(m: &[ParsedMetric], prefix: &str) {
    const DURATION: &str = "pipeline.stage.duration";
    for k in 0..PIPELINES {
        let pipeline = format!("{prefix}_p{k}");
        let p = pipeline.as_str();
        let runs = (0..RUNS).filter(|i| i % PIPELINES == k).count();
        assert_eq!(
            sum(m, "pipeline.runs", &[("pipeline", p)]),
            runs as f64,
            "{p}"
        );
        assert_eq!(
            samples(m, "prefect.flow.duration", &[("flow", p), ("status", "ok")]),
            runs,
            "{p}"
        );
        for (stage, per_run) in [
            ("extract", BATCHES + 1),
            ("transform", BATCHES + 1),
            ("load", BATCHES),
            ("check", BATCHES + 1),
        ] {
            assert_eq!(
                samples(
                    m,
                    DURATION,
                    &[("pipeline", p), ("stage", stage), ("status", "ok")]
                ),
                runs * per_run,
                "{p} {stage}"
            );
        }
    }
    assert_eq!(sum(m, "pipeline.errors", &[]), 0.0);
}

#[test]
fn the_current_run_follows_the_task_on_both_runtimes() {
    let subscriber = tracing_subscriber::registry().with(Recorder);
    tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");

    let receiver = UdpReceiver::bind().expect("bind a UDP socket on 127.0.0.1");
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Udp(receiver.addr()))
        .with_flush_interval(Duration::from_millis(100))
        .without_otel()
        .quiet()
        .try_init()
        .expect("init");
    // Set once the exporter has shut down: its last flush is then wholly in
    // the socket's buffer, so the next drain reads the rest (no quiet period
    // guessing when that flush ends). The reader keeps the buffer from
    // overflowing meanwhile.
    let shut_down = Arc::new(AtomicBool::new(false));
    let reader_shut_down = Arc::clone(&shut_down);
    let reader = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines = Vec::new();
        loop {
            let last = reader_shut_down.load(Ordering::Acquire);
            for d in receiver.drain(Duration::from_millis(100)) {
                let text = String::from_utf8(d).expect("utf-8");
                lines.extend(text.lines().map(str::to_owned));
            }
            if last {
                return lines;
            }
            assert!(Instant::now() < deadline, "the exporter never shut down");
        }
    });

    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("multi-thread runtime")
        .block_on(workload("mt"));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("current-thread runtime")
        .block_on(workload("ct"));
    assert!(
        PipelineRun::current().is_none(),
        "nothing left on this thread"
    );

    drop(telemetry);
    shut_down.store(true, Ordering::Release);
    let lines = reader.join().expect("reader");
    let m: Vec<ParsedMetric> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("unparseable {l:?}: {e}")))
        .collect();

    check_wire(&m, "mt");
    check_wire(&m, "ct");
    // Stages of tasks without a run carry no pipeline at all.
    // Tasks without a run, over both runtimes.
    let no_run_tasks = (0..RUNS).filter(|i| i % (RUNS / NO_RUN_TASKS) == 0).count() * 2;
    for stage in ["extract", "transform"] {
        let untagged = m
            .iter()
            .filter(|p| {
                p.name == "pipeline.stage.duration"
                    && p.tag("stage") == Some(stage)
                    && !p.has_tag_key("pipeline")
            })
            .map(|p| p.values.len())
            .sum::<usize>();
        assert_eq!(untagged, no_run_tasks * BATCHES, "{stage}");
    }

    // Every stage span's parent is exactly its task's run span.
    let seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let per_run = 4 * BATCHES + 3;
    assert_eq!(
        seen.len(),
        2 * RUNS * per_run + no_run_tasks * 2 * BATCHES,
        "one record per stage body"
    );
    let mut by_run: HashMap<&str, usize> = HashMap::new();
    for (expected, parent) in seen.iter() {
        if expected == NONE {
            assert_eq!(parent, &None, "a stage of a task without a run");
        } else {
            assert_eq!(
                parent.as_deref(),
                Some(expected.as_str()),
                "wrong parent run span"
            );
            *by_run.entry(expected).or_default() += 1;
        }
    }
    assert_eq!(by_run.len(), 2 * RUNS);
    assert!(by_run.values().all(|&n| n == per_run), "{by_run:?}");
}
