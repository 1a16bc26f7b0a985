//! The per-request work: extract the caller's context, open the request
//! span as its child, call the inner service inside the span.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pipeline_telemetry::otel;
use tower_service::Service;

use crate::carrier::IncomingContext;
use crate::future::{ResponseFuture, Traced};
use crate::layer::Config;
use crate::metric::RequestMetric;
use crate::spans;

/// The service built by [`HttpTelemetryLayer`](crate::HttpTelemetryLayer).
#[derive(Debug, Clone)]
pub struct HttpTelemetryService<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> HttpTelemetryService<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
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

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        if self.config.skip.as_ref().is_some_and(|skip| skip(&parts)) {
            return ResponseFuture::untraced(self.inner.call(Request::from_parts(parts, body)));
        }
        // In the extensions before the span is made: a custom span maker
        // can read the caller's pipeline_id there.
        parts
            .extensions
            .insert(IncomingContext::from_extracted(otel::extract(
                &parts.headers,
            )));
        let span = match &self.config.make_span {
            Some(make_span) => make_span(&parts),
            None => {
                let id = parts
                    .extensions
                    .get::<IncomingContext>()
                    .and_then(IncomingContext::pipeline_id);
                spans::make_server_span(&parts, self.config.scheme, id)
            }
        };
        if let Some(ctx) = parts.extensions.get_mut::<IncomingContext>() {
            ctx.continue_in(&span);
        }
        let metric = self
            .config
            .request_metric
            .then(|| RequestMetric::start(&parts));
        let req = Request::from_parts(parts, body);
        let inner = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        ResponseFuture::traced(
            inner,
            Traced::new(span, metric, self.config.on_response.clone()),
        )
    }
}
