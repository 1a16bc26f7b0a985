//! Outgoing calls with any HTTP client: a CLIENT span per request and the
//! W3C headers (`traceparent`, `tracestate`, `baggage` with `pipeline_id`)
//! injected into its `http::HeaderMap`, so the called service continues the
//! same trace and run.

use http::{HeaderMap, Method, StatusCode};
use pipeline_telemetry::{otel, PipelineRun};
use tracing::Span;

use crate::spans::{self, ClientUrl};

/// The CLIENT span of one outgoing request, for any HTTP client built on
/// the `http` crate (reqwest 0.12 or 0.13, hyper, ...). The `reqwest`
/// feature's `TracedSend` and the `reqwest-middleware` feature's
/// `TracingMiddleware` are built on it.
///
/// Start it where the request is sent (inside the run or stage making the
/// call), [`inject`](Self::inject) the context into the request's headers,
/// send the request inside [`span`](Self::span), and report what came
/// back. With reqwest (0.12 and 0.13 alike):
///
/// ```no_run
/// use pipeline_telemetry_http::ClientSpan;
/// use tracing::Instrument;
///
/// # async fn demo(client: reqwest::Client) -> Result<reqwest::Response, reqwest::Error> {
/// let mut request = client.get("http://127.0.0.1:8080/items/7").build()?;
/// let call = ClientSpan::start(request.method(), request.url().as_str());
/// call.inject(request.headers_mut());
/// match client.execute(request).instrument(call.span().clone()).await {
///     Ok(response) => {
///         call.on_response(response.status());
///         Ok(response)
///     }
///     Err(e) => {
///         call.on_error(if e.is_timeout() { "timeout" } else { "request" }, &e);
///         Err(e)
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientSpan {
    span: Span,
}

impl ClientSpan {
    /// Opens the CLIENT span of a request of `method` to `url` (an
    /// absolute URL; what does not parse is simply not recorded), a child
    /// of the current span. `url.scheme`, `server.address`, `server.port`
    /// and `url.path` are recorded, never the query.
    pub fn start(method: &Method, url: &str) -> Self {
        let uri = http::Uri::try_from(url).ok();
        let parts = uri.as_ref().map(ClientUrl::from_uri).unwrap_or_default();
        Self::from_span(spans::make_client_span(method, parts))
    }

    /// Wraps a span made elsewhere (for instance with
    /// [`spans::make_client_span`]).
    pub fn from_span(span: Span) -> Self {
        ClientSpan { span }
    }

    /// The CLIENT span: send the request inside it
    /// (`.instrument(call.span().clone())`).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Writes `traceparent` and `tracestate` of the CLIENT span, and
    /// `baggage` with the `pipeline_id` of the current run, into `headers`.
    ///
    /// The `pipeline_id` comes from the run current here
    /// ([`PipelineRun::current`]), so it travels with any subscriber or
    /// none; outside a run, from the span scope or the baggage received.
    /// Without an OpenTelemetry layer no `traceparent` is written.
    pub fn inject(&self, headers: &mut HeaderMap) {
        match PipelineRun::current() {
            Some(run) => {
                otel::inject_context_with_pipeline_id(&self.span, run.pipeline_id(), headers);
            }
            None => otel::inject_context(&self.span, headers),
        }
    }

    /// Records the response status; a 4xx or 5xx marks the span as an
    /// error (the request did not do what the caller asked).
    pub fn on_response(&self, status: StatusCode) {
        spans::on_client_response(&self.span, status);
    }

    /// Marks the span as failed without a response: `error_type` is a
    /// bounded name (`timeout`, `connect`, ...), `error` its description.
    pub fn on_error(&self, error_type: &str, error: &dyn std::fmt::Display) {
        spans::mark_error(&self.span, error_type, error);
    }
}
