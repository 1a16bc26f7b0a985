//! The layer shaped as tower-http's `TraceLayer` allows: `/health` skipped
//! (no span at all), the span made by the application's own
//! `with_make_span` (its name and a field of its own, still a child of the
//! caller's span, the status recorded on it by the layer), and an
//! `with_on_response` hook that records the latency on it. Datadog's APM
//! test agent shows what was exported.

mod common;

use common::{attr, traceparent, unique_trace_id, TRACEPARENT_SPAN};
use pipeline_telemetry_http::HttpTelemetryLayer;
use tracing::field::Empty;

fn layer() -> HttpTelemetryLayer {
    HttpTelemetryLayer::new()
        .with_skip(|req| req.uri.path() == "/health")
        .with_make_span(|req| {
            let tenant = req
                .headers
                .get("x-tenant")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            tracing::info_span!(
                target: "ingest_api",
                "custom.request",
                otel.name = format!("custom {}", req.method).as_str(),
                otel.kind = "server",
                tenant = tenant,
                "http.response.status_code" = Empty,
                "error.type" = Empty,
                otel.status_code = Empty,
                otel.status_description = Empty,
                "app.latency_us" = Empty,
            )
        })
        .with_on_response(|res, latency, span| {
            assert!(res.status.as_u16() >= 200);
            span.record("app.latency_us", latency.as_micros() as u64 + 1);
        })
}

#[test]
fn skipped_routes_custom_spans_and_response_hooks() {
    let mut h = common::start_with("http-hooks", None, common::app_with(layer()));
    let health_trace = unique_trace_id(21);
    let item_trace = unique_trace_id(22);
    let fail_trace = unique_trace_id(23);
    let client = reqwest::blocking::Client::new();
    let send = |path: &str, trace: &str| {
        client
            .get(h.url(path))
            .header("traceparent", traceparent(trace))
            .header("baggage", "pipeline_id=hooks-1")
            .header("x-tenant", "acme")
            .send()
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(send("/health", &health_trace), 200);
    assert_eq!(send("/items/8", &item_trace), 200);
    assert_eq!(send("/fail", &fail_trace), 500);

    h.shutdown();
    let spans = h.spans(|s| {
        s.iter().filter(|s| s.trace_id == item_trace).count() >= 3
            && s.iter().any(|s| s.trace_id == fail_trace)
    });
    assert!(
        spans.iter().all(|s| s.trace_id != health_trace),
        "/health is skipped: {spans:#?}"
    );
    let custom = spans
        .iter()
        .find(|s| s.trace_id == item_trace && s.name == "custom GET")
        .unwrap_or_else(|| panic!("no custom span in {item_trace}: {spans:#?}"));
    assert_eq!(custom.parent_span_id.as_deref(), Some(TRACEPARENT_SPAN));
    assert_eq!(attr(custom, "tenant"), Some("acme"));
    assert_eq!(attr(custom, "http.response.status_code"), Some("200"));
    assert!(
        attr(custom, "app.latency_us").is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0)),
        "on_response recorded the latency: {custom:#?}"
    );
    let run = spans
        .iter()
        .find(|s| s.trace_id == item_trace && s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("no run in {item_trace}: {spans:#?}"));
    assert_eq!(run.parent_span_id.as_deref(), Some(custom.span_id.as_str()));
    assert_eq!(attr(run, "pipeline_id"), Some("hooks-1"));

    let failed = spans
        .iter()
        .find(|s| s.trace_id == fail_trace && s.name == "custom GET")
        .unwrap_or_else(|| panic!("no custom span in {fail_trace}: {spans:#?}"));
    assert_eq!(attr(failed, "http.response.status_code"), Some("500"));
    assert_eq!(attr(failed, "error.type"), Some("500"));
    assert_eq!(failed.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
}
