//! Client tracing configured once per client (feature
//! `reqwest-middleware`): a `reqwest_middleware::Middleware` that opens a
//! CLIENT span per request and injects the context.

use http::Extensions;
use reqwest_middleware::{Middleware, Next};
use tracing::Instrument;

use crate::reqwest_client::{client_span, transport_error_type};

/// Traces every request of a `reqwest_middleware` client: a CLIENT span
/// (`http.client.request`), child of the current span, and `traceparent`,
/// `tracestate` and `baggage` with the current run's `pipeline_id`
/// injected, as [`send_traced`](crate::TracedSend::send_traced) does per
/// call.
///
/// ```no_run
/// use pipeline_telemetry_http::TracingMiddleware;
///
/// # async fn demo() -> Result<(), reqwest_middleware::Error> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware)
///     .build();
/// // Inside a run or stage: traced, and the run goes on in the callee.
/// let response = client.get("http://127.0.0.1:8080/items/7").send().await?;
/// # let _ = response; Ok(()) }
/// ```
///
/// Add it after retry middlewares to get one span per attempt, before them
/// to get one span per call.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingMiddleware;

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let call = client_span(&req);
        call.inject(req.headers_mut());
        let result = next
            .run(req, extensions)
            .instrument(call.span().clone())
            .await;
        match &result {
            Ok(response) => call.on_response(response.status()),
            Err(reqwest_middleware::Error::Reqwest(e)) => {
                call.on_error(transport_error_type(e), e);
            }
            Err(e) => call.on_error("middleware", e),
        }
        result
    }
}
