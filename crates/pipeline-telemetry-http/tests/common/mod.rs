//! Shared by the real-peer tests: telemetry exporting to Datadog's APM test
//! agent under a session token, DogStatsD to a real UDP socket, and an axum
//! server on 127.0.0.1:0 behind the layer.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry::{instrument_stage, MetricsTarget, TelemetryBuilder, TelemetryGuard};
use pipeline_telemetry_http::{HttpTelemetryLayer, IncomingContext};
use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::UdpReceiver;
use reqwest_middleware::ClientWithMiddleware;

pub(crate) const TRACEPARENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
pub(crate) const TRACEPARENT_SPAN: &str = "00f067aa0ba902b7";

/// A W3C `traceparent` with the given trace id and the fixed parent span.
pub(crate) fn traceparent(trace: &str) -> String {
    format!("00-{trace}-{TRACEPARENT_SPAN}-01")
}

/// A random-enough 32-hex trace id unique to this test.
pub(crate) fn unique_trace_id(salt: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    format!(
        "{:016x}{:016x}",
        nanos as u64 ^ salt,
        u64::from(std::process::id()) << 20 | salt
    )
}

pub(crate) struct Harness {
    pub token: String,
    pub telemetry: Option<TelemetryGuard>,
    pub rt: tokio::runtime::Runtime,
    pub addr: SocketAddr,
    pub statsd: UdpReceiver,
}

impl Harness {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Flushes metrics and spans (bounded wait).
    pub(crate) fn shutdown(&mut self) {
        if let Some(t) = self.telemetry.take() {
            t.shutdown(Duration::from_secs(10))
                .expect("telemetry shutdown");
        }
    }

    /// Polls the agent until `done` accepts the spans of this session.
    pub(crate) fn spans(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        agent::poll_spans(&self.token, done)
    }
}

#[derive(Debug)]
pub(crate) struct StoreError;
impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("store failed")
    }
}
impl std::error::Error for StoreError {}

#[instrument_stage]
async fn store(n: u64) -> Result<u64, StoreError> {
    tokio::task::yield_now().await;
    pipeline_telemetry::record_records(n);
    Ok(n)
}

/// `GET /items/{id}`: starts a run under the caller's pipeline_id, runs a
/// stage in it, answers with the run's pipeline_id.
async fn item(ctx: IncomingContext, Path(id): Path<u64>) -> Result<String, StatusCode> {
    let run = ctx.start_run("ingest_api");
    run.scope(store(id))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let id = run.pipeline_id().to_owned();
    run.finish();
    Ok(id)
}

/// `GET /parts/{id}`: joins the caller's run as a part (pipeline
/// `ingest_part`), runs a stage in it, answers with its pipeline_id.
async fn part(ctx: IncomingContext, Path(id): Path<u64>) -> Result<String, StatusCode> {
    let part = ctx.join_run("ingest_part");
    part.scope(store(id))
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let id = part.pipeline_id().to_owned();
    part.finish();
    Ok(id)
}

/// `GET /fail`: a handler error turned into a 500.
async fn fail() -> Result<String, (StatusCode, &'static str)> {
    Err((StatusCode::INTERNAL_SERVER_ERROR, "the warehouse is gone"))
}

/// The routes behind `layer`, and `/bare/{id}` (the `item` handler) and
/// `/bare-parts/{id}` (the `part` handler) without it.
pub(crate) fn app_with(layer: HttpTelemetryLayer) -> Router {
    Router::new()
        .route("/items/{id}", get(item))
        .route("/parts/{id}", get(part))
        .route("/fail", get(fail))
        .route("/health", get(|| async { "ok" }))
        .layer(layer)
        .merge(
            Router::new()
                .route("/bare/{id}", get(item))
                .route("/bare-parts/{id}", get(part)),
        )
}

pub(crate) fn app() -> Router {
    app_with(HttpTelemetryLayer::new().with_request_metric(true))
}

/// Telemetry to the test agent and a real UDP DogStatsD socket, and the
/// app served on a free loopback port.
pub(crate) fn start(label: &str) -> Harness {
    start_with(label, None, app())
}

/// [`start`] with a trace filter (`PIPELINE_TELEMETRY_TRACE_FILTER`
/// directives) and the app to serve.
pub(crate) fn start_with(label: &str, trace_filter: Option<&str>, app: Router) -> Harness {
    let agent = agent::agent();
    let token = agent::token(label);
    let statsd = UdpReceiver::bind().expect("bind the DogStatsD receiver");
    let target = MetricsTarget::parse_url(&statsd.url(), "test").expect("udp url");
    let telemetry = TelemetryBuilder::from_env()
        .with_service("ingest-api")
        .with_metrics_target(target)
        .with_flush_interval(Duration::from_millis(100))
        .with_otel(|o| {
            let o = o
                .with_endpoint(agent.otlp_http.clone())
                .with_protocol(Protocol::HttpProtobuf)
                .with_header(agent::TOKEN_HEADER, token.clone())
                .with_batch_delay(Duration::from_millis(100));
            match trace_filter {
                Some(directives) => o.with_trace_filter(directives),
                None => o,
            }
        })
        .try_init()
        .expect("telemetry init");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    rt.spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    Harness {
        token,
        telemetry: Some(telemetry),
        rt,
        addr,
        statsd,
    }
}

pub(crate) fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    s.attributes.get(key).map(String::as_str)
}

pub(crate) fn is_server(s: &Span) -> bool {
    s.kind
        .as_deref()
        .is_some_and(|k| k.contains("SERVER") || k == "2")
}

pub(crate) fn is_client(s: &Span) -> bool {
    s.kind
        .as_deref()
        .is_some_and(|k| k.contains("CLIENT") || k == "3")
}

/// Checks, on what the test agent received for `h`'s session, one call
/// made inside a stage of the run of pipeline `caller` (id `pipeline_id`)
/// to `GET {path}?secret=s3cr3t`: a CLIENT span under that stage in the
/// run's trace with the URL's scheme and path (never the query), and the
/// server's span continuing the trace under it with the run's id.
pub(crate) fn assert_call_traced(h: &Harness, caller: &str, pipeline_id: &str, path: &str) {
    let spans = h.spans(|s| s.iter().any(is_client) && s.iter().any(is_server));
    let caller_run = spans
        .iter()
        .find(|s| s.name == "pipeline.run" && attr(s, "pipeline") == Some(caller))
        .unwrap_or_else(|| panic!("no caller run: {spans:#?}"));
    let client_span = spans
        .iter()
        .find(|s| is_client(s))
        .unwrap_or_else(|| panic!("no CLIENT span: {spans:#?}"));
    assert_eq!(client_span.trace_id, caller_run.trace_id);
    let stage = spans
        .iter()
        .find(|s| Some(s.span_id.as_str()) == client_span.parent_span_id.as_deref())
        .unwrap_or_else(|| panic!("client span without its stage: {client_span:#?}"));
    assert_eq!(stage.name, "pipeline.stage");
    assert_eq!(attr(client_span, "url.path"), Some(path));
    assert_eq!(attr(client_span, "url.scheme"), Some("http"));
    assert_eq!(attr(client_span, "http.request.method"), Some("GET"));
    assert_eq!(attr(client_span, "http.response.status_code"), Some("200"));
    assert!(client_span
        .attributes
        .values()
        .all(|v| !v.contains("s3cr3t")));
    let server = spans
        .iter()
        .find(|s| is_server(s) && attr(s, "http.route") == Some("/items/{id}"))
        .unwrap_or_else(|| panic!("no server span: {spans:#?}"));
    assert_eq!(
        server.trace_id, caller_run.trace_id,
        "one trace across the call"
    );
    assert_eq!(
        server.parent_span_id.as_deref(),
        Some(client_span.span_id.as_str())
    );
    assert_eq!(attr(server, "pipeline_id"), Some(pipeline_id));
    assert_eq!(attr(server, "url.path"), Some(path));
    assert_eq!(attr(server, "url.scheme"), Some("http"));
    assert!(server.attributes.values().all(|v| !v.contains("s3cr3t")));
}

/// A stage (`fetch`) that GETs `url` through `client` and returns the body.
#[instrument_stage]
pub(crate) async fn fetch(
    client: ClientWithMiddleware,
    url: String,
) -> Result<String, reqwest_middleware::Error> {
    let resp = client.get(url).send().await?;
    Ok(resp.text().await.unwrap_or_default())
}
