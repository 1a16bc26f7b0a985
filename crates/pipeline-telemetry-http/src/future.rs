//! The response future: polls the inner service inside the request span
//! and finishes the span (status, error) when the response is ready.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tracing::Span;

use crate::layer::OnResponseFn;
use crate::metric::RequestMetric;
use crate::spans;

/// What a traced request carries until its response: the span, the
/// opt-in metric, the response hook.
pub(crate) struct Traced {
    span: Span,
    metric: Option<RequestMetric>,
    on_response: Option<(Arc<OnResponseFn>, Instant)>,
}

impl Traced {
    pub(crate) fn new(
        span: Span,
        metric: Option<RequestMetric>,
        on_response: Option<Arc<OnResponseFn>>,
    ) -> Self {
        Traced {
            span,
            metric,
            on_response: on_response.map(|hook| (hook, Instant::now())),
        }
    }

    fn respond<B>(self, response: Response<B>) -> Response<B> {
        spans::on_server_response(&self.span, response.status());
        if let Some(metric) = &self.metric {
            metric.record(spans::status_class(response.status()));
        }
        match self.on_response {
            Some((hook, start)) => {
                let (parts, body) = response.into_parts();
                hook(&parts, start.elapsed(), &self.span);
                Response::from_parts(parts, body)
            }
            None => response,
        }
    }

    /// The inner service failed without a response: the connection is
    /// closed, the span is an error of type `handler_error`.
    fn fail<E: std::fmt::Display>(self, err: &E) {
        spans::mark_error(&self.span, "handler_error", err);
        if let Some(metric) = &self.metric {
            metric.record(spans::status_class(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
}

pin_project! {
    /// The response future of
    /// [`HttpTelemetryService`](crate::HttpTelemetryService). The span
    /// ends when the response head is ready (streaming the body is not
    /// included).
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` for a skipped request, and once the response is ready.
        traced: Option<Traced>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.traced.as_ref().map(|t| &t.span))
            .finish_non_exhaustive()
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn traced(inner: F, traced: Traced) -> Self {
        ResponseFuture {
            inner,
            traced: Some(traced),
        }
    }

    pub(crate) fn untraced(inner: F) -> Self {
        ResponseFuture {
            inner,
            traced: None,
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
            let _enter = this.traced.as_ref().map(|t| t.span.enter());
            match this.inner.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            }
        };
        let Some(traced) = this.traced.take() else {
            return Poll::Ready(result);
        };
        Poll::Ready(match result {
            Ok(response) => Ok(traced.respond(response)),
            Err(err) => {
                traced.fail(&err);
                Err(err)
            }
        })
    }
}
