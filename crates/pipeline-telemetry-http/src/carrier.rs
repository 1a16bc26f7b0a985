//! The caller's context in request headers: `traceparent`, `tracestate` and
//! `baggage` (with `pipeline_id`), read through the project's
//! [`Carrier`](pipeline_telemetry::otel::Carrier), which `http::HeaderMap`
//! implements.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::propagation::{Injector, TextMapPropagator};
use pipeline_telemetry::otel::{self, ExtractedContext};
use pipeline_telemetry::PipelineRun;

/// What the caller sent about its trace and run, as the layer found it in
/// the request headers. The layer puts it in the request's extensions; in
/// an axum handler take it as an extractor (feature `axum`), in another
/// tower service read `req.extensions().get::<IncomingContext>()`, and
/// without the layer make it with [`from_headers`](Self::from_headers).
///
/// The handler chooses what the request is, the layer never does:
/// [`start_run`](Self::start_run) for a run of its own,
/// [`join_run`](Self::join_run) for a part of the caller's run.
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
    /// The caller's trace context and baggage (`None` only for
    /// `Default`).
    remote: Option<ExtractedContext>,
    /// The layer's request span is in the trace (enabled, and recorded by
    /// an OpenTelemetry layer): a run started under it continues the trace
    /// through it. Otherwise the run continues `remote` itself.
    request_span_recorded: bool,
}

impl IncomingContext {
    /// Reads the context from request headers (hostile or malformed values
    /// read as absent).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        Self::from_extracted(otel::extract(headers))
    }

    pub(crate) fn from_extracted(remote: ExtractedContext) -> Self {
        let trace_id = remote.trace_id();
        IncomingContext {
            pipeline_id: remote.pipeline_id.clone(),
            remote: Some(remote),
            trace_id,
            request_span_recorded: false,
        }
    }

    /// Makes `span` (the request span) a child of the caller's span, and
    /// remembers whether it is recorded in the trace.
    #[cfg(feature = "server")]
    pub(crate) fn continue_in(&mut self, span: &tracing::Span) {
        if let Some(remote) = &self.remote {
            // Nothing to continue (a fresh trace), or the span cannot take
            // it (disabled, filtered: `is_recorded` says so below).
            let _ = remote.set_parent(span);
        }
        self.request_span_recorded = is_recorded(span);
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

    /// Starts a NEW run of `pipeline` for this request, under the caller's
    /// `pipeline_id` (a fresh one when it sent none): it counts
    /// `pipeline.runs` and records `prefect.flow.duration` when it ends.
    /// When the request is a part of the caller's run rather than a run of
    /// its own, use [`join_run`](Self::join_run). The layer never starts
    /// or joins a run by itself: the handler chooses.
    ///
    /// Its span continues the caller's trace: called in the handler, where
    /// the request span is current, it is a child of the request span;
    /// when the request span is not in the trace (filtered out by a trace
    /// filter, disabled by a level filter, no OpenTelemetry layer, or no
    /// layer at all and the context read from the headers), it is a child
    /// of the caller's span. A request without a valid `traceparent` starts
    /// a new trace.
    pub fn start_run(&self, pipeline: &str) -> PipelineRun {
        match self.remote_carrier() {
            Some(carrier) => PipelineRun::continue_from(pipeline, &carrier),
            None => match &self.pipeline_id {
                Some(id) => PipelineRun::start(pipeline, id),
                None => PipelineRun::start(pipeline, fresh_pipeline_id()),
            },
        }
    }

    /// Joins the caller's run, as a PART of it, for this request: the
    /// request's work is a stage of a run the caller started (and counts),
    /// not a run of its own. The part keeps the caller's `pipeline_id` (a
    /// fresh one when it sent none) and continues its trace as
    /// [`start_run`](Self::start_run) does (through the request span, or
    /// directly when the request span is not in the trace); its stages are
    /// tagged with `pipeline` and their failures counted as usual, but it
    /// counts no `pipeline.runs` and records no `prefect.flow.duration`:
    /// the caller's run counts those once. See
    /// [`PipelineRun::join`].
    ///
    /// ```
    /// use axum::http::StatusCode;
    /// use pipeline_telemetry_http::IncomingContext;
    ///
    /// // A worker endpoint the pipeline's orchestrator calls per batch.
    /// async fn load_batch(ctx: IncomingContext) -> StatusCode {
    ///     let part = ctx.join_run("nightly_etl");
    ///     // part.scope(load(..)).await ...
    ///     part.finish();
    ///     StatusCode::NO_CONTENT
    /// }
    /// let _app: axum::Router =
    ///     axum::Router::new().route("/load", axum::routing::post(load_batch));
    /// ```
    pub fn join_run(&self, pipeline: &str) -> PipelineRun {
        match self.remote_carrier() {
            Some(carrier) => PipelineRun::join(pipeline, &carrier),
            None => match &self.pipeline_id {
                Some(id) => PipelineRun::join_id(pipeline, id),
                None => PipelineRun::join_id(pipeline, fresh_pipeline_id()),
            },
        }
    }

    /// The caller's context as headers, when a run must continue the
    /// caller's span itself: the caller sent a valid trace context and the
    /// request span is not in the trace. Otherwise the run is a child of
    /// the current span (the request span, or a new trace).
    fn remote_carrier(&self) -> Option<BTreeMap<String, String>> {
        let remote = self
            .remote
            .as_ref()
            .filter(|r| !self.request_span_recorded && r.is_valid())?;
        let mut carrier = BTreeMap::new();
        otel::propagator().inject_context(remote.context(), &mut Map(&mut carrier));
        Some(carrier)
    }
}

/// An OpenTelemetry injector over the project's `BTreeMap` carrier.
struct Map<'a>(&'a mut BTreeMap<String, String>);

impl Injector for Map<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

/// Whether `span` is a link of the trace: enabled, and recorded by an
/// OpenTelemetry layer (not filtered out by that layer's filter).
#[cfg(feature = "server")]
pub(crate) fn is_recorded(span: &tracing::Span) -> bool {
    use opentelemetry::trace::TraceContextExt;
    otel::span_context(span).span().span_context().is_valid()
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IncomingContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<IncomingContext>() {
            Some(ctx) => ctx.clone(),
            // The layer is not installed, or skipped this request: read the
            // headers here.
            None => IncomingContext::from_headers(&parts.headers),
        })
    }
}

/// A `pipeline_id` for a request that carried none: the time in
/// microseconds and a process-wide sequence number, hexadecimal.
pub(crate) fn fresh_pipeline_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{micros:x}-{seq:x}")
}
