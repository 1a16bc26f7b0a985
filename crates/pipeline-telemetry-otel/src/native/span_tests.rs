use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;

use super::super::names::View;
use super::convert;

fn span(kind: SpanKind, name: &'static str, attrs: Vec<KeyValue>, status: Status) -> SpanData {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(0x0123_4567_89ab_cdef_0000_0000_0000_0042_u128),
            SpanId::from(7_u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::from(3_u64),
        parent_span_is_remote: false,
        span_kind: kind,
        name: Cow::Borrowed(name),
        start_time: start,
        end_time: start + Duration::from_millis(5),
        attributes: attrs,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status,
        instrumentation_scope: InstrumentationScope::builder("pipeline-telemetry").build(),
    }
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("etl")
        .with_attributes([
            KeyValue::new("deployment.environment.name", "prod"),
            KeyValue::new("service.version", "1.2"),
        ])
        .build()
}

/// A stage span: its explicit Datadog names, ids split as the Agent splits
/// them, unified service tags from the resource, numbers as metrics.
#[test]
fn stage_span_fields() {
    let s = span(
        SpanKind::Internal,
        "pipeline.stage",
        vec![
            KeyValue::new("operation.name", "pipeline.stage"),
            KeyValue::new("resource.name", "load"),
            KeyValue::new("_dd.measured", 1_i64),
            KeyValue::new("pipeline_id", "42"),
            KeyValue::new("records", 10_i64),
        ],
        Status::Unset,
    );
    let res = resource();
    let dd = convert(&View {
        span: &s,
        resource: &res,
    });
    assert_eq!(dd.name, "pipeline.stage");
    assert_eq!(dd.resource, "load");
    assert_eq!(dd.service, "etl");
    assert_eq!(dd.r#type, "custom");
    assert_eq!(dd.trace_id, 0x42);
    assert_eq!(dd.trace_id_high, 0x0123_4567_89ab_cdef);
    assert_eq!((dd.span_id, dd.parent_id), (7, 3));
    assert_eq!(dd.duration, 5_000_000);
    assert_eq!(dd.error, 0);
    assert_eq!(dd.meta["env"], "prod");
    assert_eq!(dd.meta["version"], "1.2");
    assert_eq!(dd.meta["pipeline_id"], "42");
    assert_eq!(dd.meta["span.kind"], "internal");
    assert_eq!(dd.meta["otel.status_code"], "Unset");
    assert_eq!(dd.meta["otel.trace_id"], "0123456789abcdef0000000000000042");
    assert_eq!(dd.metrics["_dd.measured"], 1.0);
    assert_eq!(dd.metrics["records"], 10.0);
    assert!(!dd.meta.contains_key("operation.name"));
    assert!(!dd.meta.contains_key("service.name"));
}

/// An errored span takes its error fields from the exception event, and
/// without one from the status description.
#[test]
fn errors_from_exception_events_and_status() {
    let mut s = span(
        SpanKind::Internal,
        "pipeline.stage",
        vec![],
        Status::error("boom"),
    );
    let res = resource();
    let dd = convert(&View {
        span: &s,
        resource: &res,
    });
    assert_eq!((dd.error, dd.meta["error.message"].as_ref()), (1, "boom"));

    s.events.events.push(Event::new(
        "exception",
        SystemTime::now(),
        vec![
            KeyValue::new("exception.type", "LoadError"),
            KeyValue::new("exception.message", "reset \"x\""),
        ],
        0,
    ));
    let dd = convert(&View {
        span: &s,
        resource: &res,
    });
    assert_eq!(dd.meta["error.type"], "LoadError");
    assert_eq!(dd.meta["error.message"], "reset \"x\"");
    assert_eq!(dd.meta["_dd.span_events.has_exception"], "true");
    let events: serde_json::Value = serde_json::from_str(&dd.meta["events"]).expect("as written");
    assert_eq!(events[0]["attributes"]["exception.message"], "reset \"x\"");
}

/// Names the Agent derives when the span has none of its own: HTTP server
/// `METHOD route`, database client `postgresql.query` of type `sql`,
/// messaging `rabbitmq.publish`.
#[test]
fn derived_names() {
    let res = resource();
    let server = span(
        SpanKind::Server,
        "GET /runs/{id}",
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/runs/{id}"),
            KeyValue::new("http.response.status_code", 500_i64),
        ],
        Status::Unset,
    );
    let dd = convert(&View {
        span: &server,
        resource: &res,
    });
    assert_eq!(
        (dd.name.as_ref(), dd.resource.as_ref(), dd.r#type.as_ref()),
        ("http.server.request", "GET /runs/{id}", "web")
    );
    assert_eq!(dd.meta["http.status_code"], "500");
    assert_eq!(dd.meta["http.method"], "GET");

    let db = span(
        SpanKind::Client,
        "SELECT",
        vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.query.text", "SELECT 1"),
        ],
        Status::Unset,
    );
    let dd = convert(&View {
        span: &db,
        resource: &res,
    });
    assert_eq!(
        (dd.name.as_ref(), dd.resource.as_ref(), dd.r#type.as_ref()),
        ("postgresql.query", "SELECT 1", "sql")
    );
    assert_eq!(dd.metrics["_dd.measured"], 1.0);

    let publish = span(
        SpanKind::Producer,
        "publish",
        vec![
            KeyValue::new("messaging.system", "rabbitmq"),
            KeyValue::new("messaging.operation.type", "publish"),
            KeyValue::new("messaging.destination.name", "jobs"),
        ],
        Status::Unset,
    );
    let dd = convert(&View {
        span: &publish,
        resource: &res,
    });
    assert_eq!(
        (dd.name.as_ref(), dd.resource.as_ref()),
        ("rabbitmq.publish", "publish jobs")
    );
}

/// Top level as the Agent marks OTLP spans by kind, whatever else is in
/// the payload: the root, server and consumer spans, and a local root
/// under a remote parent; an internal child is not, even alone.
#[test]
fn top_level_marks() {
    let res = resource();
    let top = |s: &SpanData| {
        convert(&View {
            span: s,
            resource: &res,
        })
        .metrics
        .get("_dd.top_level")
        .copied()
    };
    let child = span(SpanKind::Internal, "pipeline.stage", vec![], Status::Unset);
    assert_eq!(top(&child), None);
    let mut root = child.clone();
    root.parent_span_id = SpanId::INVALID;
    assert_eq!(top(&root), Some(1.0));
    let mut joined = child.clone();
    joined.parent_span_is_remote = true;
    assert_eq!(top(&joined), Some(1.0));
    let server = span(SpanKind::Server, "GET /", vec![], Status::Unset);
    assert_eq!(top(&server), Some(1.0));
    let consumer = span(SpanKind::Consumer, "jobs", vec![], Status::Unset);
    assert_eq!(top(&consumer), Some(1.0));
}
