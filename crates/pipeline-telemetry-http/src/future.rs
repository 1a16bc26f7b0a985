//! The response future: polls the inner service inside the request span
//! and finishes the span (status, error) when the response is ready.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tracing::Span;

use crate::metric::RequestMetric;
use crate::spans;

pin_project! {
    /// The response future of
    /// [`HttpTelemetryService`](crate::HttpTelemetryService). The span
    /// ends when the response head is ready (streaming the body is not
    /// included).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        metric: Option<RequestMetric>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Span, metric: Option<RequestMetric>) -> Self {
        ResponseFuture {
            inner,
            span,
            metric,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _enter = this.span.enter();
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            }
        };
        let status = match &result {
            Ok(response) => {
                spans::on_server_response(this.span, response.status());
                response.status()
            }
            Err(err) => {
                on_failure(this.span, err);
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if let Some(metric) = this.metric.take() {
            metric.record(spans::status_class(status));
        }
        Poll::Ready(result)
    }
}

/// The inner service failed without a response: the connection is
/// closed, the span is an error of type `handler_error`.
fn on_failure<E: std::fmt::Display>(span: &Span, err: &E) {
    spans::mark_error(span, "handler_error", err);
}
