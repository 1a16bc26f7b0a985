//! The tower [`Layer`]: configuration only; the work per request is in
//! [`HttpTelemetryService`](crate::HttpTelemetryService).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use tower_layer::Layer;
use tracing::Span;

use crate::service::HttpTelemetryService;

/// Decides, from the request head, that a request is not traced.
pub(crate) type SkipFn = dyn Fn(&Parts) -> bool + Send + Sync;
/// Makes the SERVER span of a request in place of the default one.
pub(crate) type MakeSpanFn = dyn Fn(&Parts) -> Span + Send + Sync;
/// Runs when the response head is ready, after the default recording.
pub(crate) type OnResponseFn = dyn Fn(&http::response::Parts, Duration, &Span) + Send + Sync;

/// What the layer records, shared by every service it builds.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) scheme: &'static str,
    pub(crate) request_metric: bool,
    pub(crate) skip: Option<Arc<SkipFn>>,
    pub(crate) make_span: Option<Arc<MakeSpanFn>>,
    pub(crate) on_response: Option<Arc<OnResponseFn>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("scheme", &self.scheme)
            .field("request_metric", &self.request_metric)
            .field("skip", &self.skip.is_some())
            .field("make_span", &self.make_span.is_some())
            .field("on_response", &self.on_response.is_some())
            .finish()
    }
}

/// A tower [`Layer`] that opens an OpenTelemetry HTTP SERVER span per
/// request, continuing the caller's trace and `pipeline_id`.
///
/// Add it with axum's `Router::layer` (or `route_layer`) so that it runs
/// after routing and sees the matched route:
///
/// ```
/// use axum::{routing::get, Router};
/// use pipeline_telemetry_http::HttpTelemetryLayer;
///
/// let app: Router = Router::new()
///     .route("/items/{id}", get(|| async { "ok" }))
///     .route("/health", get(|| async { "ok" }))
///     .layer(HttpTelemetryLayer::new().with_skip(|req| req.uri.path() == "/health"));
/// ```
///
/// It sends no metric unless [`with_request_metric`](Self::with_request_metric)
/// asks for one: Datadog's Agent derives `trace.http.server.request.*` from
/// the spans.
///
/// As tower-http's `TraceLayer` allows, the span can be shaped:
/// [`with_skip`](Self::with_skip) leaves requests untraced (health checks),
/// [`with_make_span`](Self::with_make_span) makes the span,
/// [`with_on_response`](Self::with_on_response) adds to it when the
/// response is ready. Without them, the defaults described in the crate
/// documentation hold.
#[derive(Debug, Clone)]
pub struct HttpTelemetryLayer {
    config: Arc<Config>,
}

impl Default for HttpTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpTelemetryLayer {
    /// Spans only, scheme `http`, every request traced with the default
    /// span.
    pub fn new() -> Self {
        HttpTelemetryLayer {
            config: Arc::new(Config {
                scheme: "http",
                request_metric: false,
                skip: None,
                make_span: None,
                on_response: None,
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The `url.scheme` to record (default `http`; say `https` when TLS is
    /// terminated in this process).
    #[must_use]
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.config_mut().scheme = scheme;
        self
    }

    /// Also send the DogStatsD distribution
    /// `pipeline.http.request.duration` (seconds, tags `route`, `method`,
    /// `status_class`) for every traced request. Off by default: only for
    /// services that run without APM, where the Agent derives no
    /// `trace.http.server.request.*` metrics from spans.
    #[must_use]
    pub fn with_request_metric(mut self, enabled: bool) -> Self {
        self.config_mut().request_metric = enabled;
        self
    }

    /// Leaves the requests for which `skip` returns `true` untraced: no
    /// span, no metric, nothing read from their headers (a handler that
    /// takes an [`IncomingContext`](crate::IncomingContext) still gets the
    /// caller's context, read from the headers then). For health checks and
    /// other probes that would drown the service's traces.
    ///
    /// `skip` sees the request head; with axum, the route matched is
    /// [`spans::route`](crate::spans::route).
    ///
    /// ```
    /// use pipeline_telemetry_http::{spans, HttpTelemetryLayer};
    ///
    /// let layer = HttpTelemetryLayer::new()
    ///     .with_skip(|req| matches!(spans::route(req), Some("/health" | "/ready")));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_skip(mut self, skip: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.config_mut().skip = Some(Arc::new(skip));
        self
    }

    /// Makes the SERVER span of each traced request with `make_span`
    /// instead of [`spans::make_server_span`](crate::spans::make_server_span),
    /// as tower-http's `make_span_with`. The layer then makes the span a
    /// child of the caller's span, enters it around the inner service, and
    /// records the response on it: declare `http.response.status_code`,
    /// `error.type`, `otel.status_code` and `otel.status_description` as
    /// [`Empty`](tracing::field::Empty) fields to have them. The caller's
    /// [`IncomingContext`](crate::IncomingContext) is already in the
    /// request's extensions.
    ///
    /// ```
    /// use pipeline_telemetry_http::{spans, HttpTelemetryLayer, IncomingContext};
    ///
    /// // The default span, plus a field of this service.
    /// let layer = HttpTelemetryLayer::new().with_make_span(|req| {
    ///     let id = req.extensions.get::<IncomingContext>().and_then(|c| c.pipeline_id());
    ///     let span = spans::make_server_span(req, "http", id);
    ///     span.in_scope(|| tracing::info!(tenant = ?req.headers.get("x-tenant"), "request"));
    ///     span
    /// });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_make_span(
        mut self,
        make_span: impl Fn(&Parts) -> Span + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().make_span = Some(Arc::new(make_span));
        self
    }

    /// Calls `on_response` with the response head, the time since the
    /// request came in and the request's span, when the response head is
    /// ready, after the layer has recorded the status (and the error of a
    /// 5xx) on the span. As tower-http's `on_response`, for fields of its
    /// own or an event. Not called when the inner service fails without a
    /// response, nor for skipped requests.
    ///
    /// ```
    /// use pipeline_telemetry_http::HttpTelemetryLayer;
    ///
    /// let layer = HttpTelemetryLayer::new().with_on_response(|res, latency, span| {
    ///     span.in_scope(|| {
    ///         tracing::info!(status = res.status.as_u16(), ?latency, "response")
    ///     });
    /// });
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn with_on_response(
        mut self,
        on_response: impl Fn(&http::response::Parts, Duration, &Span) + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().on_response = Some(Arc::new(on_response));
        self
    }
}

impl<S> Layer<S> for HttpTelemetryLayer {
    type Service = HttpTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTelemetryService::new(inner, self.config.clone())
    }
}
