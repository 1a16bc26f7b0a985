//! Span construction: names, kinds and the OpenTelemetry HTTP semantic
//! convention attributes of the server and client spans.
//!
//! Every value that comes from the request is bounded here: the method is
//! one of the registered methods or `_OTHER`, header values are read only
//! when they are visible ASCII and cut to a fixed length, the path
//! (`url.path`, as the conventions require) is cut to [`MAX_PATH_LEN`], and
//! the query string is never recorded. Span names and metric tags use the
//! matched route (axum's `MatchedPath`), never the path.

use http::request::Parts;
use http::{Method, StatusCode, Version};
use opentelemetry_semantic_conventions::attribute as semconv;
use tracing::field::Empty;
use tracing::Span;

/// The `tracing` target of every span this crate opens.
pub const TARGET: &str = "pipeline_telemetry_http";

/// Datadog's operation name for a server span (what its OTLP mapping
/// derives from a SERVER span with `http.request.method`).
pub const SERVER_OPERATION: &str = "http.server.request";

/// Datadog's operation name for a client span.
pub const CLIENT_OPERATION: &str = "http.client.request";

/// Longest `user_agent.original` kept, in bytes.
pub const MAX_USER_AGENT_LEN: usize = 256;

/// Longest `server.address` kept, in bytes (a DNS name's limit).
pub const MAX_HOST_LEN: usize = 253;

/// Longest `url.path` kept, in bytes (longer paths are cut at a character
/// boundary).
pub const MAX_PATH_LEN: usize = 1024;

/// The path as `url.path` records it: no query, at most [`MAX_PATH_LEN`]
/// bytes. `http::Uri` admits only visible ASCII in a path, so the cut
/// always falls on a character boundary.
pub(crate) fn url_path(path: &str) -> &str {
    let mut end = path.len().min(MAX_PATH_LEN);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

/// The method as the conventions want it: a registered method, or `_OTHER`
/// (an arbitrary method is an unbounded value).
pub fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// `2xx`, `4xx`, `5xx`, ...: the bounded form of a status for metric tags.
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// The span name the conventions ask for (`{method} {route}`, or the
/// method alone when no route matched); Datadog shows it as the resource.
pub fn span_name(method: &'static str, route: Option<&str>) -> String {
    let method = if method == "_OTHER" { "HTTP" } else { method };
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

/// A header value when it is visible ASCII (a non-UTF-8 or control
/// character value reads as absent), cut to `max` bytes.
pub(crate) fn header_text(
    headers: &http::HeaderMap,
    name: http::header::HeaderName,
    max: usize,
) -> Option<&str> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(&value[..value.len().min(max)])
}

/// `server.address` and `server.port` from the request's URI or `Host`
/// header, when they look like a host name or address.
fn server_address(req: &Parts) -> (Option<&str>, Option<u16>) {
    let authority = req
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header_text(&req.headers, http::header::HOST, MAX_HOST_LEN + 6));
    let Some(authority) = authority else {
        return (None, None);
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, p.parse().ok())
        }
        _ => (authority, None),
    };
    let ok = !host.is_empty()
        && host.len() <= MAX_HOST_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if ok {
        (Some(host), port)
    } else {
        (None, None)
    }
}

fn protocol_version(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// The matched route of a request: axum's `MatchedPath` (present when the
/// layer is added with `Router::layer` or `route_layer`, feature `axum`).
pub fn route(req: &Parts) -> Option<&str> {
    #[cfg(feature = "axum")]
    {
        req.extensions
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str)
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = req;
        None
    }
}

/// The peer's IP from axum's `ConnectInfo<SocketAddr>` (feature `axum`).
fn client_address(req: &Parts) -> Option<std::net::IpAddr> {
    #[cfg(feature = "axum")]
    {
        req.extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| addr.ip())
    }
    #[cfg(not(feature = "axum"))]
    {
        let _ = req;
        None
    }
}

/// Opens the SERVER span of one request (not yet entered, no parent set),
/// with the caller's `pipeline_id` when it sent one: what the layer does
/// unless [`with_make_span`](crate::HttpTelemetryLayer::with_make_span)
/// replaces it. A replacement can call it and add to the span, or make its
/// own span; the layer records `http.response.status_code`, `error.type`
/// and `otel.status_code` on whatever span it gets, when it declares them.
///
/// The route comes from [`route`]; without one, no `http.route` is
/// recorded and the span is named after the method only. Every attribute
/// is given when the span is created (recording fields later costs a
/// lookup per field in the OpenTelemetry layer).
pub fn make_server_span(req: &Parts, scheme: &'static str, pipeline_id: Option<&str>) -> Span {
    let method = method_name(&req.method);
    let route = route(req);
    let name = span_name(method, route);
    let (host, port) = server_address(req);
    let client = client_address(req).map(tracing::field::display);
    let user_agent = header_text(&req.headers, http::header::USER_AGENT, MAX_USER_AGENT_LEN);
    tracing::info_span!(
        target: TARGET,
        "http.server.request",
        otel.name = name.as_str(),
        otel.kind = "server",
        "operation.name" = SERVER_OPERATION,
        "resource.name" = name.as_str(),
        { semconv::HTTP_REQUEST_METHOD } = method,
        { semconv::HTTP_ROUTE } = route,
        { semconv::URL_SCHEME } = scheme,
        { semconv::URL_PATH } = url_path(req.uri.path()),
        { semconv::NETWORK_PROTOCOL_VERSION } = protocol_version(req.version),
        { semconv::SERVER_ADDRESS } = host,
        { semconv::SERVER_PORT } = port.map(i64::from),
        { semconv::CLIENT_ADDRESS } = client,
        { semconv::USER_AGENT_ORIGINAL } = user_agent,
        { semconv::HTTP_RESPONSE_STATUS_CODE } = Empty,
        { semconv::ERROR_TYPE } = Empty,
        pipeline_id = pipeline_id,
        otel.status_code = Empty,
        otel.status_description = Empty,
    )
}

/// Records the response status on a server span; a 5xx marks it as an
/// error (a 4xx is the client's error, not the server's, per the
/// conventions).
pub fn on_server_response(span: &Span, status: StatusCode) {
    span.record(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    );
    if status.is_server_error() {
        mark_error(span, status.as_str(), status);
    }
}

/// Records the response status on a client span; a 4xx or 5xx marks it as
/// an error (the request did not do what the caller asked).
pub fn on_client_response(span: &Span, status: StatusCode) {
    span.record(
        semconv::HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    );
    if status.is_client_error() || status.is_server_error() {
        mark_error(span, status.as_str(), status);
    }
}

/// Marks a span as failed: `error.type` (a bounded value: a status code or
/// a type name) and the error status with its description.
pub fn mark_error(span: &Span, error_type: &str, description: impl std::fmt::Display) {
    span.record(semconv::ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
    span.record(
        "otel.status_description",
        tracing::field::display(description),
    );
}

/// The parts of an outgoing request's URL a CLIENT span records.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientUrl<'a> {
    /// `url.scheme`, e.g. `https`.
    pub scheme: Option<&'a str>,
    /// `server.address`: the host name or address.
    pub host: Option<&'a str>,
    /// `server.port`: the port, explicit or the scheme's default.
    pub port: Option<u16>,
    /// `url.path` (cut to [`MAX_PATH_LEN`]); never the query.
    pub path: Option<&'a str>,
}

impl<'a> ClientUrl<'a> {
    /// The parts of an `http::Uri` (absolute: `http://host:port/path`).
    pub fn from_uri(uri: &'a http::Uri) -> Self {
        let scheme = uri.scheme_str();
        let default_port = match scheme {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        };
        ClientUrl {
            scheme,
            host: uri.host(),
            port: uri.port_u16().or(default_port),
            path: Some(uri.path()),
        }
    }
}

/// Opens the CLIENT span of one outgoing request, a child of the current
/// span. The method, scheme, host, port and path of the URL are recorded:
/// its query (which may carry ids or secrets) never is.
pub fn make_client_span(method: &Method, url: ClientUrl<'_>) -> Span {
    let method = method_name(method);
    let name = span_name(method, None);
    let span = tracing::info_span!(
        target: TARGET,
        "http.client.request",
        otel.name = name.as_str(),
        otel.kind = "client",
        "operation.name" = CLIENT_OPERATION,
        "resource.name" = name.as_str(),
        { semconv::HTTP_REQUEST_METHOD } = method,
        { semconv::URL_SCHEME } = url.scheme,
        { semconv::URL_PATH } = url.path.map(url_path),
        { semconv::SERVER_ADDRESS } = url.host,
        { semconv::SERVER_PORT } = url.port.map(i64::from),
        { semconv::HTTP_RESPONSE_STATUS_CODE } = Empty,
        { semconv::ERROR_TYPE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_are_other() {
        let m = Method::from_bytes(b"BREW").expect("token");
        assert_eq!(method_name(&m), "_OTHER");
        assert_eq!(span_name("_OTHER", None), "HTTP");
        assert_eq!(span_name("GET", Some("/items/{id}")), "GET /items/{id}");
    }

    #[test]
    fn hostile_host_headers_are_dropped() {
        let req = |host: &str| {
            http::Request::builder()
                .uri("/x")
                .header("host", host)
                .body(())
                .expect("request")
                .into_parts()
                .0
        };
        assert_eq!(
            server_address(&req("api.example:8080")),
            (Some("api.example"), Some(8080))
        );
        assert_eq!(server_address(&req("[::1]:80")), (Some("[::1]"), Some(80)));
        assert_eq!(server_address(&req("evil host\"")), (None, None));
        assert_eq!(server_address(&req(&"a".repeat(400))), (None, None));
    }

    #[test]
    fn paths_are_cut_and_urls_split_without_their_query() {
        assert_eq!(url_path("/items/7"), "/items/7");
        assert_eq!(url_path(&"/a".repeat(1000)).len(), MAX_PATH_LEN);
        let uri: http::Uri = "https://api.example/items/7?token=x".parse().expect("uri");
        let url = ClientUrl::from_uri(&uri);
        assert_eq!(url.scheme, Some("https"));
        assert_eq!(url.host, Some("api.example"));
        assert_eq!(url.port, Some(443));
        assert_eq!(url.path, Some("/items/7"));
    }

    #[test]
    fn status_classes_are_bounded() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::from_u16(599).expect("599")), "5xx");
    }
}
