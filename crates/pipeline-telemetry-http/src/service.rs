//! The per-request work: extract the caller's context, open the request
//! span as its child, call the inner service inside the span.

use std::task::{Context, Poll};

use http::{Request, Response};
use pipeline_telemetry::otel;
use tower_service::Service;

use crate::carrier::IncomingContext;
use crate::future::ResponseFuture;
use crate::layer::Config;
use crate::metric::RequestMetric;
use crate::spans;

/// The service built by [`HttpTelemetryLayer`](crate::HttpTelemetryLayer).
#[derive(Debug, Clone)]
pub struct HttpTelemetryService<S> {
    inner: S,
    config: Config,
}

impl<S> HttpTelemetryService<S> {
    pub(crate) fn new(inner: S, config: Config) -> Self {
        HttpTelemetryService { inner, config }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpTelemetryService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let remote = otel::extract(req.headers());
        let span = spans::make_server_span(&req, self.config.scheme, remote.pipeline_id.as_deref());
        // Hostile or absent headers: no parent, the span starts a new trace.
        let _ = remote.set_parent(&span);
        req.extensions_mut()
            .insert(IncomingContext::from_extracted(&remote));
        let metric = self
            .config
            .request_metric
            .then(|| RequestMetric::start(&req));
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::new(inner, span, metric)
    }
}
