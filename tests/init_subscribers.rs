//! With `init()` (its global subscriber exporting spans to the console),
//! runs and stages under a scoped `tracing` subscriber that never saw the
//! run's span: no panic, a fresh stage span there, metrics under the run,
//! and the run's failure recorded on its own span.

use std::sync::{Arc, Mutex};

use pipeline_telemetry::otel::{LogFormat, TracesExport};
use pipeline_telemetry::testing::{values, MemorySink};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, Stage, TelemetryBuilder};
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

/// (span name, parent span name) of every span the scoped subscriber saw.
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

#[test]
fn stages_under_a_scoped_subscriber_after_init() {
    let sink = MemorySink::new();
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Memory(sink.clone()))
        .with_otel(|o| {
            o.with_traces(TracesExport::Console)
                .with_console_writer(std::io::sink)
                .with_log_format(LogFormat::Json)
                .with_log_writer(std::io::sink)
        })
        .quiet()
        .try_init()
        .expect("init");

    let run = PipelineRun::start("scoped_after_init", "1");
    let seen = Seen::default();
    let scoped = tracing_subscriber::registry().with(Spans(seen.clone()));
    tracing::subscriber::with_default(scoped, || {
        run.in_scope(|| {
            load(false).expect("load");
            assert!(load(true).is_err());
            CHECK.run(|| Ok::<_, LoadError>(())).expect("check");
        });
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt")
            .block_on(run.scope(async { transform().await }))
            .expect("transform");
    });
    assert!(run.has_failed());
    drop(run);
    drop(telemetry);

    let stages: Vec<_> = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(n, _)| n == "pipeline.stage")
        .map(|(_, p)| p.clone())
        .collect();
    assert_eq!(
        stages,
        vec![None; 4],
        "fresh stage spans in the scoped subscriber"
    );
    let m = sink.metrics().expect("parse");
    for (stage, n) in [("load", 2), ("check", 1), ("transform", 1)] {
        assert_eq!(
            values(
                &m,
                "pipeline.stage.duration",
                &[("pipeline", "scoped_after_init"), ("stage", stage)]
            )
            .len(),
            n,
            "{stage}"
        );
    }
    assert_eq!(
        values(
            &m,
            "prefect.flow.duration",
            &[("flow", "scoped_after_init"), ("status", "failed")]
        )
        .len(),
        1
    );
}
