//! Shared by the integration tests: a pipeline that emits the facade's
//! span/event contract. The test agent, reading back what it received and
//! the in-memory log writer come from `pipeline-telemetry-test-support`.
#![allow(dead_code, unused_imports)]

use std::time::Duration;

pub(crate) mod peers;

pub(crate) use pipeline_telemetry_test_support::agent::{
    self, attributes, b64_hex, dd_trace_id, poll, spans, token, Span, TOKEN_HEADER,
};
pub(crate) use pipeline_telemetry_test_support::capture::Captured;
use tracing::field::Empty;
use tracing::instrument::WithSubscriber;
use tracing::Instrument;

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
