//! The caller's context in request headers: `traceparent`, `tracestate` and
//! `baggage` (with `pipeline_id`), read through the project's
//! [`Carrier`](pipeline_telemetry::otel::Carrier), which `http::HeaderMap`
//! implements.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::FromRequestParts;
use http::request::Parts;
use pipeline_telemetry::otel::{self, ExtractedContext};
use pipeline_telemetry::PipelineRun;

/// What the caller sent about its trace and run, as the layer found it in
/// the request headers. The layer puts it in the request's extensions; in
/// an axum handler take it as an extractor.
///
/// ```
/// use pipeline_telemetry_http::IncomingContext;
///
/// async fn ingest(ctx: IncomingContext) -> String {
///     // A child of the request span, under the caller's pipeline_id.
///     let run = ctx.start_run("ingest");
///     let id = run.pipeline_id().to_owned();
///     run.finish();
///     id
/// }
/// let _app: axum::Router = axum::Router::new().route("/ingest", axum::routing::post(ingest));
/// ```
#[derive(Debug, Clone, Default)]
pub struct IncomingContext {
    pipeline_id: Option<String>,
    trace_id: Option<String>,
}

impl IncomingContext {
    /// Reads the context from request headers (hostile or malformed values
    /// read as absent).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        Self::from_extracted(&otel::extract(headers))
    }

    pub(crate) fn from_extracted(remote: &ExtractedContext) -> Self {
        IncomingContext {
            pipeline_id: remote.pipeline_id.clone(),
            trace_id: remote.trace_id(),
        }
    }

    /// The caller's `pipeline_id` (from W3C baggage), sanitised.
    pub fn pipeline_id(&self) -> Option<&str> {
        self.pipeline_id.as_deref()
    }

    /// The caller's trace id (32 hex digits) when it sent a valid
    /// `traceparent`.
    pub fn remote_trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref()
    }

    /// Starts a run of `pipeline` under the caller's `pipeline_id` (a fresh
    /// one when it sent none). Called in the handler, where the request
    /// span is current, the run's span is a child of the request span, so
    /// the caller, the request and the run's stages are one trace.
    pub fn start_run(&self, pipeline: &str) -> PipelineRun {
        match &self.pipeline_id {
            Some(id) => PipelineRun::start(pipeline, id),
            None => PipelineRun::start(pipeline, fresh_pipeline_id()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IncomingContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<IncomingContext>() {
            Some(ctx) => ctx.clone(),
            // The layer is not installed: read the headers here.
            None => IncomingContext::from_headers(&parts.headers),
        })
    }
}

/// A `pipeline_id` for a request that carried none: the time in
/// microseconds and a process-wide sequence number, hexadecimal.
fn fresh_pipeline_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{micros:x}-{seq:x}")
}
