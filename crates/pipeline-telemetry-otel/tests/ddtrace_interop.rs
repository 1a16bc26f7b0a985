//! Propagation against ddtrace-py 4.x itself (a test peer from PyPI, see
//! `scripts/peers-requirements.txt`): its `HTTPPropagator` injects and
//! extracts, driven by `tests/peers/ddtrace_propagation.py` over JSON lines.

use std::collections::BTreeMap;

use opentelemetry::trace::{TraceContextExt, TracerProvider};
use pipeline_telemetry_otel::{extract, inject_context_with_pipeline_id};
use pipeline_telemetry_test_support::python::JsonPeer;
use serde_json::{json, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// ddtrace in a Python process, with `style` as its
/// `DD_TRACE_PROPAGATION_STYLE`.
fn ddtrace(style: &str) -> JsonPeer {
    JsonPeer::start(
        "ddtrace_propagation.py",
        &[("DD_TRACE_PROPAGATION_STYLE", style)],
    )
}

/// Continues the trace of `headers` in a span of ours and injects it
/// again (with `pipeline_id` `run-9`): what we send on, and our span's id.
fn relay(headers: &BTreeMap<String, String>) -> (BTreeMap<String, String>, u64) {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("interop")));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("relay");
        extract(headers).set_parent(&span).expect("a parent");
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        inject_context_with_pipeline_id(&span, "run-9", &mut out);
        let sc = span.context().span().span_context().clone();
        (out, u64::from_be_bytes(sc.span_id().to_bytes()))
    })
}

fn id(v: &Value) -> u128 {
    v.as_str()
        .expect("an id string")
        .parse()
        .expect("a decimal id")
}

/// ddtrace injects in `datadog` style only (128-bit trace id: low 64 bits in
/// `x-datadog-trace-id`, high in `_dd.p.tid`): we continue its trace under
/// its span. The old code read only W3C headers and found nothing.
#[test]
fn we_continue_a_ddtrace_trace_sent_in_datadog_style() {
    let mut peer = ddtrace("datadog");
    for _ in 0..3 {
        let sent = peer.ask(&json!({"op": "inject"}));
        let headers: BTreeMap<String, String> =
            serde_json::from_value(sent["headers"].clone()).expect("headers");
        assert!(!headers.contains_key("traceparent"), "{headers:?}");
        let trace_id = id(&sent["trace_id"]);
        assert!(
            trace_id > u128::from(u64::MAX),
            "ddtrace 4 makes 128-bit ids"
        );

        let remote = extract(&headers);
        assert!(remote.is_valid(), "{headers:?}");
        assert_eq!(remote.trace_id(), Some(format!("{trace_id:032x}")));
        let parent = remote.context().span().span_context().span_id().to_bytes();
        assert_eq!(u128::from(u64::from_be_bytes(parent)), id(&sent["span_id"]));
        assert_eq!(remote.dd_trace_id(), Some(trace_id as u64));
    }
}

/// A span of ours with a real OpenTelemetry tracer, injected with the
/// default styles; ddtrace extracts in `datadog`-only and in
/// `tracecontext`-only mode and finds our trace id and span id both times.
#[test]
fn ddtrace_continues_our_trace_in_either_style() {
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("interop")));
    let (headers, trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("pipeline.run");
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        inject_context_with_pipeline_id(&span, "run-9", &mut headers);
        let sc = span.context().span().span_context().clone();
        (
            headers,
            u128::from_be_bytes(sc.trace_id().to_bytes()),
            u64::from_be_bytes(sc.span_id().to_bytes()),
        )
    });
    for key in [
        "traceparent",
        "x-datadog-trace-id",
        "x-datadog-parent-id",
        "baggage",
    ] {
        assert!(headers.contains_key(key), "{key} missing: {headers:?}");
    }
    for style in ["datadog", "tracecontext"] {
        let mut peer = ddtrace(style);
        let got = peer.ask(&json!({"op": "extract", "headers": headers}));
        assert_eq!(id(&got["trace_id"]), trace_id, "{style}: {got}");
        assert_eq!(id(&got["span_id"]), u128::from(span_id), "{style}: {got}");
    }
}

/// Through us and back: ddtrace (datadog style, with a user-keep priority
/// and an origin set on its span) → our extract → a span of ours under it →
/// our inject → ddtrace's `datadog`-only extract. ddtrace sees its own
/// trace, our span as the parent, and its priority, origin and `_dd.p.*`
/// tags unchanged.
#[test]
fn ddtrace_state_survives_a_hop_through_us() {
    let mut peer = ddtrace("datadog");
    let sent = peer.ask(&json!({"op": "inject", "priority": 2, "origin": "synthetics"}));
    let headers: BTreeMap<String, String> =
        serde_json::from_value(sent["headers"].clone()).expect("headers");
    assert_eq!(
        headers
            .get("x-datadog-sampling-priority")
            .map(String::as_str),
        Some("2")
    );

    let (out, span_id) = relay(&headers);
    let got = peer.ask(&json!({"op": "extract", "headers": out}));
    assert_eq!(got["trace_id"], sent["trace_id"], "{got}");
    assert_eq!(id(&got["span_id"]), u128::from(span_id), "{got}");
    assert_eq!(got["sampling_priority"], 2, "{got} from {out:?}");
    assert_eq!(got["origin"], "synthetics", "{got} from {out:?}");
    let sent_tags = &headers["x-datadog-tags"];
    for tag in sent_tags.split(',') {
        let (k, v) = tag.split_once('=').expect("k=v");
        assert_eq!(got["meta"][k], v, "{k} lost: {got} from {out:?}");
    }
}

/// Through us in `tracecontext` style: ddtrace's tracestate names its span
/// as the last Datadog parent (`dd=p:`); once our span is the parent, what
/// we send on must name ours, as ddtrace's own inject does for its active
/// span (`_TraceContext._inject`, `w3c_tracestate_add_p`). ddtrace's
/// `tracecontext`-only extract reads it as `_dd.parent_id`. The old code
/// forwarded ddtrace's `p` unchanged: `_dd.parent_id` named the span before
/// ours.
#[test]
fn the_last_datadog_parent_is_our_span_after_a_hop_in_tracecontext_style() {
    let mut peer = ddtrace("tracecontext");
    let sent = peer.ask(&json!({"op": "inject"}));
    let headers: BTreeMap<String, String> =
        serde_json::from_value(sent["headers"].clone()).expect("headers");
    let theirs = format!("{:016x}", id(&sent["span_id"]));
    assert!(
        headers["tracestate"].contains(&format!("p:{theirs}")),
        "{headers:?}"
    );

    let (out, ours) = relay(&headers);
    let got = peer.ask(&json!({"op": "extract", "headers": out}));
    assert_eq!(got["trace_id"], sent["trace_id"], "{got}");
    assert_eq!(id(&got["span_id"]), u128::from(ours), "{got}");
    assert_eq!(
        got["meta"]["_dd.parent_id"],
        format!("{ours:016x}"),
        "{got} from {out:?}"
    );
    // The rest of ddtrace's dd member goes on (priority, decision maker).
    assert_eq!(got["sampling_priority"], 1, "{got}");
    assert_eq!(got["meta"]["_dd.p.dm"], "-0", "{got}");
}
