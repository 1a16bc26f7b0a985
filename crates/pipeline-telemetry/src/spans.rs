//! Span construction for runs and stages: names, Datadog span fields and
//! the error marks, in one place (the role of tower-http's `make_span`).
//!
//! What Datadog's OTLP ingest reads (datadog-agent `pkg/trace/transform`,
//! `OtelSpanToDDSpan`):
//! - `operation.name` and `resource.name` become the span's name and resource;
//! - the OTLP status `Error` sets `error=1`, its description becomes
//!   `error.msg` unless an `exception` span event carries
//!   `exception.message` / `exception.type` (read as `error.msg` /
//!   `error.type`); an `error.type` attribute is kept as `error.type`;
//! - `_dd.measured = 1` makes a non-top-level span count in the APM trace
//!   metrics (hits, errors, latency), which otherwise only top-level spans
//!   (the root and `server`/`consumer` kinds) and `client`/`producer`
//!   spans get.
//!
//! The three are fixed by a run or stage span's name and its `pipeline` or
//! `stage` field, so they are not recorded here: the OTLP exporter derives
//! them for each finished `pipeline.run` / `pipeline.stage` span on its own
//! thread (`pipeline-telemetry-otel`, `datadog_fields.rs`). A stage span
//! carries only what varies: `stage`, `pipeline`, `pipeline_id`, and the
//! status fields when it fails.

use std::fmt::Display;

use tracing::field::{display, Empty};
use tracing::Span;

/// The name of a run's span (Datadog's operation name).
pub const RUN_SPAN: &str = "pipeline.run";
/// The name of a stage's span (Datadog's operation name).
pub const STAGE_SPAN: &str = "pipeline.stage";

/// Span fields, as Datadog's OTLP mapping and `tracing-opentelemetry` read them.
pub(crate) mod field {
    /// The OTLP status code (`tracing-opentelemetry`): `error` or `ok`.
    pub(crate) const STATUS_CODE: &str = "otel.status_code";
    /// The OTLP status description (Datadog's `error.msg`).
    pub(crate) const STATUS_DESCRIPTION: &str = "otel.status_description";
    /// The error's type (Datadog's `error.type`).
    pub(crate) const ERROR_TYPE: &str = "error.type";
    /// The error's message (OpenTelemetry's `error.message`).
    pub(crate) const ERROR_MESSAGE: &str = "error.message";
}

/// The value of `otel.status_code` for a failed span.
const STATUS_ERROR: &str = "error";

/// A run's span: the root of its trace (or a child of a remote parent).
pub(crate) fn run_span(pipeline: &'static str, pipeline_id: &str) -> Span {
    tracing::info_span!(
        target: "pipeline_telemetry",
        "pipeline.run",
        pipeline = pipeline,
        pipeline_id = pipeline_id,
        otel.status_code = Empty,
        otel.status_description = Empty,
        "error.type" = Empty,
        "error.message" = Empty,
    )
}

/// A stage's span. Its parent is the current span (contextual): the run's
/// span when the run was entered under this subscriber, otherwise whatever
/// this subscriber has current, never a span of another subscriber.
#[inline]
pub(crate) fn stage_span(
    stage: &'static str,
    pipeline: Option<&'static str>,
    pipeline_id: Option<&str>,
) -> Span {
    // No subscriber takes INFO spans (metrics only): a span without
    // metadata, so that entering and leaving it costs nothing either (a
    // disabled span with metadata still goes through `tracing`'s `log`
    // compatibility on every enter and exit).
    if !tracing::level_enabled!(tracing::Level::INFO) {
        return Span::none();
    }
    tracing::info_span!(
        target: "pipeline_telemetry",
        "pipeline.stage",
        stage = stage,
        pipeline = pipeline,
        pipeline_id = pipeline_id,
        otel.status_code = Empty,
        otel.status_description = Empty,
        "error.type" = Empty,
    )
}

/// Marks `span` as failed with `error_type` and `message`.
pub(crate) fn mark_error(span: &Span, error_type: &str, message: &dyn Display) {
    if span.is_disabled() {
        return;
    }
    span.record(field::STATUS_CODE, STATUS_ERROR);
    span.record(field::STATUS_DESCRIPTION, display(message));
    span.record(field::ERROR_TYPE, error_type);
}

/// The log line (and the span's `exception` event) of a failed stage call.
pub(crate) fn stage_failed(span: &Span, stage: &'static str, error_type: &str, err: &dyn Display) {
    mark_error(span, error_type, err);
    tracing::error!(
        target: "pipeline_telemetry",
        parent: span,
        {
            "exception.type" = error_type,
            "exception.message" = %err,
            "error.type" = error_type,
            stage = stage,
            outcome = "failed",
        },
        "stage failed"
    );
}

/// Marks a run's span as failed with its reason, and logs the failure (an
/// `exception` event on the span). Emitted to the subscriber that owns the
/// span, whichever is the default where the run ends.
pub(crate) fn run_failed(span: &Span, error_type: Option<&str>, message: &dyn Display) {
    if span.is_disabled() {
        // No subscriber saw the run: still a log line wherever logs go.
        tracing::error!(target: "pipeline_telemetry", outcome = "failed", "pipeline run failed");
        return;
    }
    let error_type = error_type.unwrap_or("run_failed");
    span.record(field::STATUS_CODE, STATUS_ERROR);
    span.record(field::STATUS_DESCRIPTION, display(message));
    span.record(field::ERROR_TYPE, error_type);
    span.record(field::ERROR_MESSAGE, display(message));
    span.with_subscriber(|(_, dispatch)| {
        tracing::dispatcher::with_default(dispatch, || {
            tracing::error!(
                target: "pipeline_telemetry",
                parent: span,
                {
                    "exception.type" = error_type,
                    "exception.message" = %message,
                    "error.type" = error_type,
                    outcome = "failed",
                },
                "pipeline run failed"
            );
        });
    });
}
