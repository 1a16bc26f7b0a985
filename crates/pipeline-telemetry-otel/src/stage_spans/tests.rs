//! Stage spans kept by [`StageSpans`] against the same spans kept by
//! `tracing-opentelemetry` and the SDK: one scenario runs under both, and
//! the exported spans must be the same (names, parents, attributes,
//! status, events, sampling), ids and times aside.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{Status, TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

use super::*;
use crate::batch::{BatchConfig, ExportSink};
use crate::datadog_fields::SCOPE;
use crate::exception::ExceptionLayer;
use crate::processor::QueueSpanProcessor;

struct Collect(Arc<Mutex<Vec<SpanData>>>);

impl ExportSink for Collect {
    type Item = FinishedSpan;
    fn export(&mut self, batch: Vec<FinishedSpan>) -> Result<(), String> {
        let mut got = self.0.lock().map_err(|e| e.to_string())?;
        got.extend(batch.into_iter().map(FinishedSpan::into_span_data));
        Ok(())
    }
}

/// The spans `scenario` exports, with stage spans kept natively or not.
fn capture(native: bool, scenario: impl FnOnce()) -> Vec<SpanData> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink_got = Arc::clone(&got);
    let config = BatchConfig {
        queue_size: 256,
        max_batch_size: 256,
        delay: Duration::from_secs(60),
    };
    let batcher =
        Arc::new(Batcher::spawn("test", config, move || Ok(Collect(sink_got))).expect("spawn"));
    let provider = SdkTracerProvider::builder()
        .with_span_processor(QueueSpanProcessor {
            batcher: Arc::clone(&batcher),
            flush_timeout: Duration::from_secs(5),
            export_rejected: false,
        })
        .build();
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SCOPE))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_target(false)
        .with_context_activation(false);
    let export = native.then(|| StageExport {
        batcher: Arc::clone(&batcher),
        export_rejected: false,
    });
    let layer = StageSpans::new::<Registry>(otel, export).and_then(ExceptionLayer::default());
    tracing::subscriber::with_default(Registry::default().with(layer), scenario);
    batcher.flush(Duration::from_secs(5)).expect("flush");
    let spans = got.lock().expect("lock").clone();
    spans
}

fn stage(name: &str) -> tracing::Span {
    tracing::info_span!(target: "pipeline_telemetry", "pipeline.stage",
        stage = name, pipeline = "etl", pipeline_id = "run-1",
        otel.status_code = Empty, otel.status_description = Empty, "error.type" = Empty)
}

/// Runs, stages (nested, failing, with events, with children of users'
/// own), and a stage outside any run.
fn scenario() {
    let run = tracing::info_span!(target: "pipeline_telemetry", "pipeline.run",
        pipeline = "etl", pipeline_id = "run-1");
    run.in_scope(|| {
        let extract = stage("extract");
        extract.in_scope(|| {
            tracing::info!(rows = 3_i64, "read");
            tracing::info_span!("user.contextual", table = "t").in_scope(|| {
                tracing::info!("inside the user's span");
            });
            let explicit = tracing::info_span!(parent: &extract, "user.explicit");
            drop(explicit);
            stage("nested").in_scope(|| tracing::warn!(late = true, "slow"));
        });
        let load = stage("load");
        load.in_scope(|| {
            load.record("otel.status_code", "error");
            load.record("otel.status_description", "disk full");
            load.record("error.type", "IoError");
            tracing::error!(target: "pipeline_telemetry",
                { "exception.type" = "IoError", "exception.message" = "disk full",
                  "error.type" = "IoError", outcome = "failed" },
                "stage failed");
        });
        stage("errs").in_scope(|| tracing::error!(code = 7_i64, "an error event alone"));
        let ok = stage("ok");
        ok.record("otel.status_code", "ok");
        drop(ok);
    });
    drop(run);
    // The root of its own trace: the sampler decides it.
    stage("alone").in_scope(|| tracing::info!("no run"));
}

/// One span, ids and times aside: (name, parent's name, attributes,
/// status, events, sampled, whether its parent is remote).
type Shape = (
    String,
    String,
    BTreeMap<String, String>,
    String,
    Vec<String>,
    bool,
    bool,
);

fn shapes(spans: &[SpanData]) -> Vec<Shape> {
    let names: HashMap<_, _> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s.name.to_string()))
        .collect();
    let traces: HashMap<_, _> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s.span_context.trace_id()))
        .collect();
    let attrs = |list: &[KeyValue]| -> BTreeMap<String, String> {
        list.iter()
            .map(|kv| (kv.key.to_string(), kv.value.to_string()))
            .collect()
    };
    let mut out: Vec<Shape> = spans
        .iter()
        .map(|s| {
            let parent = names
                .get(&s.parent_span_id)
                .cloned()
                .unwrap_or_else(|| "-".into());
            // A parent in the capture is in the same trace.
            if let Some(t) = traces.get(&s.parent_span_id) {
                assert_eq!(*t, s.span_context.trace_id(), "{}", s.name);
            }
            let name = match attrs(&s.attributes).get("stage") {
                Some(stage) => format!("{}:{stage}", s.name),
                None => s.name.to_string(),
            };
            let status = match &s.status {
                Status::Unset => "unset".to_owned(),
                Status::Ok => "ok".to_owned(),
                Status::Error { description } => format!("error({description})"),
            };
            let events = s
                .events
                .iter()
                .map(|e| format!("{} {:?}", e.name, attrs(&e.attributes)))
                .collect();
            (
                name,
                parent,
                attrs(&s.attributes),
                status,
                events,
                s.span_context.is_sampled(),
                s.parent_span_is_remote,
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn stage_spans_export_what_tracing_opentelemetry_exports() {
    let sdk = shapes(&capture(false, scenario));
    let native = shapes(&capture(true, scenario));
    assert_eq!(sdk.len(), 9, "{sdk:#?}");
    assert_eq!(native, sdk);
    // The parents resolve by name: the user's spans are children of their
    // stage, the nested stage of its stage.
    let parent_of = |name: &str| {
        native
            .iter()
            .find(|s| s.0 == name)
            .map(|s| s.1.clone())
            .unwrap_or_default()
    };
    assert_eq!(parent_of("user.contextual"), "pipeline.stage");
    assert_eq!(parent_of("user.explicit"), "pipeline.stage");
    assert_eq!(parent_of("pipeline.stage:nested"), "pipeline.stage");
    assert_eq!(parent_of("pipeline.stage:extract"), "pipeline.run");
    assert_eq!(parent_of("pipeline.stage:alone"), "-");
}

#[test]
fn a_stage_spans_context_is_found_through_this_crate() {
    let _ = capture(true, || {
        let run = tracing::info_span!(target: "pipeline_telemetry", "pipeline.run");
        let _run = run.enter();
        let stage = stage("extract");
        let cx = span_context(&stage);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_valid());
        assert_eq!(
            sc.trace_id(),
            span_context(&run).span().span_context().trace_id()
        );
        // What changes: `tracing-opentelemetry` does not see the stage.
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        assert!(!stage.context().span().span_context().is_valid());
    });
    let _ = capture(false, || {
        let run = tracing::info_span!(target: "pipeline_telemetry", "pipeline.run");
        let _run = run.enter();
        let stage = stage("extract");
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        assert!(stage.context().span().span_context().is_valid());
        assert_eq!(
            stage.context().span().span_context(),
            span_context(&stage).span().span_context()
        );
    });
}
