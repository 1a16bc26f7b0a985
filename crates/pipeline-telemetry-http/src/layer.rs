//! The tower [`Layer`]: configuration only; the work per request is in
//! [`HttpTelemetryService`](crate::HttpTelemetryService).

use tower_layer::Layer;

use crate::service::HttpTelemetryService;

/// What the layer records, shared by every service it builds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) scheme: &'static str,
    pub(crate) request_metric: bool,
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
///     .layer(HttpTelemetryLayer::new());
/// ```
///
/// It sends no metric unless [`with_request_metric`](Self::with_request_metric)
/// asks for one: Datadog's Agent derives `trace.http.server.request.*` from
/// the spans.
#[derive(Debug, Clone, Copy)]
pub struct HttpTelemetryLayer {
    config: Config,
}

impl Default for HttpTelemetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpTelemetryLayer {
    /// Spans only, scheme `http`.
    pub const fn new() -> Self {
        HttpTelemetryLayer {
            config: Config {
                scheme: "http",
                request_metric: false,
            },
        }
    }

    /// The `url.scheme` to record (default `http`; say `https` when TLS is
    /// terminated in this process).
    #[must_use]
    pub const fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.config.scheme = scheme;
        self
    }

    /// Also send the DogStatsD distribution
    /// `pipeline.http.request.duration` (seconds, tags `route`, `method`,
    /// `status_class`) for every request. Off by default: only for
    /// services that run without APM, where the Agent derives no
    /// `trace.http.server.request.*` metrics from spans.
    #[must_use]
    pub const fn with_request_metric(mut self, enabled: bool) -> Self {
        self.config.request_metric = enabled;
        self
    }
}

impl<S> Layer<S> for HttpTelemetryLayer {
    type Service = HttpTelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpTelemetryService::new(inner, self.config)
    }
}
