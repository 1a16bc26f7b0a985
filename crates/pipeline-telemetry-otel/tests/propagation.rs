//! Context across two independent tracers (two providers, two subscribers,
//! as in two processes): the producer injects into HTTP headers or an
//! AMQP-style header map, the consumer extracts and continues the same trace
//! with the same `pipeline_id`. Both export to the test agent.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use pipeline_telemetry_otel::{
    extract, inject_context, inject_current_context, Carrier, OtelBuilder, Protocol, TracesExport,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

fn tracer(service: &str, token: &str) -> (tracing::Dispatch, pipeline_telemetry_otel::OtelGuard) {
    let (layer, guard) = OtelBuilder::new(service)
        .with_endpoint(&agent::agent().otlp_http)
        .with_protocol(Protocol::HttpProtobuf)
        .with_header(TOKEN_HEADER, token)
        .with_traces(TracesExport::Otlp)
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
        .expect("build layers");
    (
        tracing::Dispatch::new(Registry::default().with(layer)),
        guard,
    )
}

/// Runs producer and consumer through `carrier`; returns the exported spans.
fn across<C: Carrier + Default>(label: &str) -> (Vec<Span>, Option<String>) {
    let token = token(label);
    let (producer, producer_guard) = tracer("pt-producer", &token);
    let (consumer, consumer_guard) = tracer("pt-consumer", &token);

    let mut carrier = C::default();
    tracing::dispatcher::with_default(&producer, || {
        let run = run_span("nightly-etl", "run-77");
        let _entered = run.enter();
        let stage = stage_span("publish", "nightly-etl", "run-77");
        let _stage = stage.enter();
        inject_current_context(&mut carrier);
    });

    let extracted = tracing::dispatcher::with_default(&consumer, || {
        let remote = extract(&carrier);
        let span = tracing::info_span!(target: "pipeline_telemetry", "consume",
            pipeline_id = remote.pipeline_id.as_deref().unwrap_or(""));
        remote.set_parent(&span).expect("parent set");
        let _entered = span.enter();
        let child = tracing::info_span!("consume.child");
        drop(child.enter());
        remote.pipeline_id
    });

    producer_guard
        .shutdown(Duration::from_secs(10))
        .expect("producer flushed");
    consumer_guard
        .shutdown(Duration::from_secs(10))
        .expect("consumer flushed");
    let payloads = poll("traces", &token, |p| spans(p).len() >= 4);
    (spans(&payloads), extracted)
}

fn check(spans: &[Span], extracted: Option<String>) {
    assert_eq!(extracted.as_deref(), Some("run-77"));
    let by_name = |n: &str| {
        spans
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("{n} exported: {spans:#?}"))
    };
    let publish = by_name("pipeline.stage");
    let consume = by_name("consume");
    let child = by_name("consume.child");
    assert_eq!(publish.resource["service.name"], "pt-producer");
    assert_eq!(consume.resource["service.name"], "pt-consumer");
    assert_eq!(
        consume.trace_id, publish.trace_id,
        "same trace across the tracers"
    );
    assert_eq!(consume.parent_span_id.as_ref(), Some(&publish.span_id));
    assert_eq!(child.trace_id, publish.trace_id);
    assert_eq!(child.parent_span_id.as_ref(), Some(&consume.span_id));
    assert_eq!(consume.attributes["pipeline_id"], "run-77");
}

#[test]
fn context_crosses_http_headers() {
    let (spans, extracted) = across::<http::HeaderMap>("headermap");
    check(&spans, extracted);
}

#[test]
fn context_crosses_amqp_header_tables() {
    let (spans, extracted) = across::<BTreeMap<String, String>>("btreemap");
    check(&spans, extracted);
}

#[test]
fn injected_headers_are_w3c() {
    let (dispatch, guard) = tracer("pt-producer", &token("w3c"));
    let mut headers = http::HeaderMap::new();
    let trace_id = tracing::dispatcher::with_default(&dispatch, || {
        let run = run_span("p", "id-1");
        inject_context(&run, &mut headers);
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        run.context().span().span_context().trace_id().to_string()
    });
    let tp = headers["traceparent"].to_str().expect("ascii");
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], trace_id);
    assert_eq!(parts[3], "01", "sampled");
    assert_eq!(headers["baggage"].to_str().ok(), Some("pipeline_id=id-1"));
    drop(guard);
}
