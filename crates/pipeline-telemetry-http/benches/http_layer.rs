//! What the layer costs one request, next to the bare handler and to
//! tower-http's `TraceLayer`, in the same run.
//!
//! Each case sends `GET /items/7` through an axum `Router` with
//! `tower::ServiceExt::oneshot` (in process: no socket, no HTTP parsing,
//! so the difference between cases is the middleware alone). Telemetry is
//! the project's `init()` with OTLP/HTTP export to Datadog's APM test
//! agent on loopback, so every span is really built and exported on the
//! background thread. tower-http's `TraceLayer` makes its span at INFO
//! (its default DEBUG would be filtered out by the default `info` trace
//! filter and cost nothing), so both layers create an exported span.
//!
//! `PT_BENCH_QUICK=1` shortens the run (1 s warm-up, 2 s measurement).

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry::{MetricsTarget, TelemetryBuilder, TelemetryGuard};
use pipeline_telemetry_http::HttpTelemetryLayer;
use pipeline_telemetry_test_support::agent;
use tower::ServiceExt;
use tower_http::trace::{DefaultMakeSpan, TraceLayer};
use tracing::Level;

fn config() -> Criterion {
    let quick = std::env::var_os("PT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let c = Criterion::default();
    if quick {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20)
    } else {
        c
    }
}

fn telemetry() -> TelemetryGuard {
    let agent = agent::agent();
    TelemetryBuilder::from_env()
        .with_service("bench-http")
        .with_metrics_target(MetricsTarget::Memory(
            pipeline_telemetry::testing::MemorySink::new(),
        ))
        .with_otel(|o| {
            o.with_endpoint(agent.otlp_http.clone())
                .with_protocol(Protocol::HttpProtobuf)
                .with_header(agent::TOKEN_HEADER, agent::token("bench-http"))
        })
        .quiet()
        .try_init()
        .expect("telemetry init")
}

async fn item(axum::extract::Path(id): axum::extract::Path<u64>) -> String {
    id.to_string()
}

fn routes() -> Router {
    Router::new().route("/items/{id}", get(item))
}

fn bench(c: &mut Criterion) {
    let _telemetry = telemetry();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cases: [(&str, Router); 4] = [
        ("bare", routes()),
        ("ours", routes().layer(HttpTelemetryLayer::new())),
        (
            "ours/with_request_metric",
            routes().layer(HttpTelemetryLayer::new().with_request_metric(true)),
        ),
        (
            "tower_http_trace",
            routes().layer(
                TraceLayer::new_for_http()
                    .make_span_with(DefaultMakeSpan::new().level(Level::INFO)),
            ),
        ),
    ];
    let mut group = c.benchmark_group("http_request");
    for (name, app) in cases {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let app = app.clone();
                async move {
                    let req = Request::get("/items/7")
                        .header(
                            "traceparent",
                            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        )
                        .header("baggage", "pipeline_id=42")
                        .body(Body::empty())
                        .expect("request");
                    let resp = app.oneshot(req).await.expect("infallible");
                    assert!(resp.status().is_success());
                    resp
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
