//! What every reqwest-based client of this crate shares, for reqwest 0.12
//! and 0.13 alike (their `Request`, `Url` and `Error` have the same API):
//! [`reqwest_support!`] writes the helpers for one of them.

/// Writes, in the module that calls it, the reqwest helpers of the crate
/// named `$reqwest` (`reqwest` 0.13, or 0.12 through
/// `reqwest_middleware_04::reqwest`):
///
/// - `client_span(&Request) -> ClientSpan`: the CLIENT span of a request
///   (`url.scheme`, `server.address`, `server.port`, `url.path`; never the
///   query);
/// - `transport_error_type(&Error) -> &'static str`: a bounded
///   `error.type` for a request that got no response.
macro_rules! reqwest_support {
    ($reqwest:ident) => {
        /// The CLIENT span of a `reqwest` request.
        pub(crate) fn client_span(request: &$reqwest::Request) -> $crate::client::ClientSpan {
            let url = request.url();
            $crate::client::ClientSpan::from_span($crate::spans::make_client_span(
                request.method(),
                $crate::spans::ClientUrl {
                    scheme: Some(url.scheme()),
                    host: url.host_str(),
                    port: url.port_or_known_default(),
                    path: Some(url.path()),
                },
            ))
        }

        /// A bounded `error.type` for a request that got no response.
        pub(crate) fn transport_error_type(e: &$reqwest::Error) -> &'static str {
            if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else if e.is_body() || e.is_decode() {
                "body"
            } else {
                "request"
            }
        }
    };
}

pub(crate) use reqwest_support;
