//! `reqwest` 0.13 calls (feature `reqwest`): a CLIENT span per request and
//! the context injected, per call with [`TracedSend::send_traced`].

use std::future::Future;

use tracing::Instrument;

use crate::error::SendError;

/// Sends a `reqwest` request inside a CLIENT span, child of the current
/// span (the stage or run making the call), with the context injected.
///
/// To trace every call of a client without writing it at each call site,
/// use the `reqwest-middleware` feature's `TracingMiddleware` instead.
///
/// ```no_run
/// use pipeline_telemetry_http::TracedSend;
///
/// # async fn demo() -> Result<(), pipeline_telemetry_http::SendError> {
/// let client = reqwest::Client::new();
/// let response = client
///     .post("http://127.0.0.1:8080/ingest")
///     .body("[1,2,3]")
///     .send_traced()
///     .await?;
/// # let _ = response; Ok(()) }
/// ```
pub trait TracedSend {
    /// Like `RequestBuilder::send`, traced and with the context injected.
    fn send_traced(self) -> impl Future<Output = Result<reqwest::Response, SendError>> + Send;
}

impl TracedSend for reqwest::RequestBuilder {
    fn send_traced(self) -> impl Future<Output = Result<reqwest::Response, SendError>> + Send {
        send(self)
    }
}

crate::reqwest_support::reqwest_support!(reqwest);

/// The function behind [`TracedSend::send_traced`].
///
/// # Errors
///
/// [`SendError::Build`] when the request cannot be built (bad URL, header
/// or body; nothing is sent and no span is made), and [`SendError::Send`]
/// when it was sent but no response came (connection refused, timeout,
/// ...). An HTTP error status is a response, not an error.
pub async fn send(builder: reqwest::RequestBuilder) -> Result<reqwest::Response, SendError> {
    let (client, request) = builder.build_split();
    let mut request = match request {
        Ok(r) => r,
        // Nothing was sent: no span.
        Err(e) => return Err(SendError::Build(e)),
    };
    let call = client_span(&request);
    call.inject(request.headers_mut());
    match client
        .execute(request)
        .instrument(call.span().clone())
        .await
    {
        Ok(response) => {
            call.on_response(response.status());
            Ok(response)
        }
        Err(e) => {
            call.on_error(transport_error_type(&e), &e);
            Err(SendError::Send(e))
        }
    }
}
