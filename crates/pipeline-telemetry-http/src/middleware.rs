//! Client tracing configured once per client: a `Middleware` of
//! reqwest-middleware 0.5 (feature `reqwest-middleware`, reqwest 0.13) and
//! of reqwest-middleware 0.4 (feature `reqwest-middleware-0-4`, reqwest
//! 0.12) that opens a CLIENT span per request and injects the context.
//! Both impls are written by one macro, [`tracing_middleware!`].

/// Traces every request of a `reqwest_middleware` client: a CLIENT span
/// (`http.client.request`), child of the current span, and `traceparent`,
/// `tracestate` and `baggage` with the current run's `pipeline_id`
/// injected, as [`ClientSpan`](crate::ClientSpan) does per call.
///
/// It is a middleware of reqwest-middleware 0.5 (reqwest 0.13) with the
/// feature `reqwest-middleware`, and of reqwest-middleware 0.4 (reqwest
/// 0.12) with the feature `reqwest-middleware-0-4`; both can be on.
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
/// The same with reqwest 0.12 and reqwest-middleware 0.4 (feature
/// `reqwest-middleware-0-4`):
///
/// ```no_run
/// # use reqwest012 as reqwest;
/// # use reqwest_middleware_04 as reqwest_middleware;
/// use pipeline_telemetry_http::TracingMiddleware;
///
/// # async fn demo() -> Result<(), reqwest_middleware::Error> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(TracingMiddleware)
///     .build();
/// let response = client.get("http://127.0.0.1:8080/items/7").send().await?;
/// # let _ = response; Ok(()) }
/// ```
///
/// Add it after retry middlewares to get one span per attempt, before them
/// to get one span per call.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingMiddleware;

/// Implements `$mw::Middleware` for [`TracingMiddleware`], `$mw` being a
/// reqwest-middleware crate and `$support` the module holding the
/// [`reqwest_support!`](crate::reqwest_support::reqwest_support) helpers
/// for its reqwest.
macro_rules! tracing_middleware {
    ($mw:ident, $support:ident) => {
        #[async_trait::async_trait]
        impl $mw::Middleware for TracingMiddleware {
            async fn handle(
                &self,
                mut req: $mw::reqwest::Request,
                extensions: &mut http::Extensions,
                next: $mw::Next<'_>,
            ) -> $mw::Result<$mw::reqwest::Response> {
                use tracing::Instrument;

                let call = $support::client_span(&req);
                call.inject(req.headers_mut());
                let result = next
                    .run(req, extensions)
                    .instrument(call.span().clone())
                    .await;
                match &result {
                    Ok(response) => call.on_response(response.status()),
                    Err($mw::Error::Reqwest(e)) => {
                        call.on_error($support::transport_error_type(e), e);
                    }
                    Err(e) => call.on_error("middleware", e),
                }
                result
            }
        }
    };
}

#[cfg(feature = "reqwest-middleware")]
use crate::reqwest_client as reqwest013;
#[cfg(feature = "reqwest-middleware")]
tracing_middleware!(reqwest_middleware, reqwest013);

/// The reqwest 0.12 helpers, for reqwest-middleware 0.4.
#[cfg(feature = "reqwest-middleware-0-4")]
mod reqwest012 {
    use reqwest_middleware_04::reqwest;

    crate::reqwest_support::reqwest_support!(reqwest);
}
#[cfg(feature = "reqwest-middleware-0-4")]
tracing_middleware!(reqwest_middleware_04, reqwest012);
