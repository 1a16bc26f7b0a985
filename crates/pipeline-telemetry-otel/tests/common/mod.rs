//! Shared by the integration tests: a pipeline that emits the facade's
//! span/event contract. The test agent, reading back what it received and
//! the in-memory log writer come from `pipeline-telemetry-test-support`.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

use pipeline_telemetry_otel::{LogFormat, OtelBuilder};
pub(crate) use pipeline_telemetry_test_support::agent::{
    self, attributes, b64_hex, dd_trace_id, poll, spans, token, Span, TOKEN_HEADER,
};
pub(crate) use pipeline_telemetry_test_support::capture::Captured;
use tracing::field::Empty;
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

/// The stage span as the facade emits it (`operation.name`,
/// `resource.name` and `_dd.measured` are derived by the exporter).
pub(crate) fn stage_span(stage: &str, pipeline: &str, id: &str) -> tracing::Span {
    tracing::info_span!(target: "pipeline_telemetry", "pipeline.stage",
        stage = %stage, pipeline = %pipeline, pipeline_id = %id,
        otel.status_code = Empty, otel.status_message = Empty)
}

/// The run span exactly as the facade emits it.
pub(crate) fn run_span(pipeline: &str, id: &str) -> tracing::Span {
    tracing::info_span!(target: "pipeline_telemetry", "pipeline.run",
        pipeline = %pipeline, pipeline_id = %id)
}

/// What the facade does when a stage fails, inside the stage span.
pub(crate) fn fail_stage(span: &tracing::Span, error_type: &str, message: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_message", message);
    // `type` is a keyword, so these keys are quoted, which the event macros
    // accept only inside braces.
    tracing::error!(target: "pipeline_telemetry",
        { "exception.type" = %error_type, "exception.message" = %message,
          "error.type" = %error_type, outcome = "failed" },
        "stage failed");
}

pub(crate) const FAILURE_TYPE: &str = "LoadError";
pub(crate) const FAILURE: &str = "warehouse said \"no\"\nconnection reset";

/// A run with three stages: `extract` (sync), `transform` (async), `load`
/// (on a spawned task, failing).
pub(crate) async fn run_pipeline(pipeline: &str, id: &str) {
    let run = run_span(pipeline, id);
    let (p, i) = (pipeline.to_owned(), id.to_owned());
    async move {
        {
            let stage = stage_span("extract", &p, &i);
            let _entered = stage.enter();
            tracing::info!(target: "pipeline_telemetry", records = 3, "extracted");
        }
        async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tracing::info!(target: "pipeline_telemetry", "transformed");
        }
        .instrument(stage_span("transform", &p, &i))
        .await;
        let load = stage_span("load", &p, &i);
        let in_task = load.clone();
        let task = async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            fail_stage(&in_task, FAILURE_TYPE, FAILURE);
        }
        .instrument(load)
        .with_current_subscriber();
        tokio::spawn(task).await.expect("spawned stage");
    }
    .instrument(run)
    .await;
}

/// A multi-thread runtime (so the spawned stage runs on another thread).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs [`run_pipeline`] once under `builder`, with the unified service tags
/// `ci` / `1.2.3`, the resource attribute `team=data`, the test agent's
/// session `token` on every export request and JSON log lines captured;
/// shuts down, no span dropped or lost in export. Returns the log lines.
pub(crate) fn export_run(builder: OtelBuilder, token: &str) -> String {
    let logs = Captured::default();
    let (layer, guard) = builder
        .with_env("ci")
        .with_version("1.2.3")
        .with_resource_attribute("team", "data")
        .with_header(TOKEN_HEADER, token)
        .with_log_format(LogFormat::Json)
        .with_log_writer(logs.clone())
        .build_layer::<Registry>()
        .expect("build layers");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        runtime().block_on(run_pipeline("nightly-etl", "42"));
    });
    let stats = guard.stats();
    guard
        .shutdown(Duration::from_secs(10))
        .expect("clean shutdown");
    assert_eq!(stats.spans.dropped, 0, "{stats:?}");
    assert_eq!(stats.spans.failed, 0, "{stats:?}");
    logs.text()
}
