//! The `datadog` style and ddtrace 4.x's rules for combining styles, with
//! property tests over arbitrary header values (never a panic, never a
//! wrong trace).

use std::collections::{BTreeMap, HashMap};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use pipeline_telemetry_otel::{extract_with, PropagationConfig, PropagationStyle, Propagator};
use proptest::prelude::*;

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn only(styles: &[PropagationStyle]) -> PropagationConfig {
    PropagationConfig {
        extract: styles.to_vec(),
        inject: styles.to_vec(),
        ..PropagationConfig::default()
    }
}

#[test]
fn datadog_headers_with_tid_give_the_128_bit_trace() {
    let h = map(&[
        ("x-datadog-trace-id", "9532127138774266268"),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-origin", "synthetics"),
        ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=0af7651916cd43dd"),
    ]);
    let remote = extract_with(&PropagationConfig::default(), &h);
    assert_eq!(
        remote.trace_id().as_deref(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    assert_eq!(remote.dd_parent_span_id(), Some(67667974448284343));
    // The Datadog state travels on in the tracestate's dd member, and out
    // again as x-datadog-* headers.
    let mut out: HashMap<String, String> = HashMap::new();
    Propagator::new(only(&[PropagationStyle::Datadog])).inject_context(remote.context(), &mut out);
    assert_eq!(
        out.get("x-datadog-trace-id").map(String::as_str),
        Some("9532127138774266268")
    );
    assert_eq!(
        out.get("x-datadog-sampling-priority").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        out.get("x-datadog-origin").map(String::as_str),
        Some("synthetics")
    );
    assert_eq!(
        out.get("x-datadog-tags").map(String::as_str),
        Some("_dd.p.dm=-4,_dd.p.tid=0af7651916cd43dd")
    );
}

#[test]
fn first_valid_style_wins_and_tracecontext_of_the_same_trace_sets_the_parent() {
    let dd = [
        ("x-datadog-trace-id", "9532127138774266268"),
        ("x-datadog-parent-id", "1"),
        ("x-datadog-tags", "_dd.p.tid=0af7651916cd43dd"),
    ];
    let mut both = map(&dd);
    both.insert("traceparent".into(), TP.into());
    let remote = extract_with(&PropagationConfig::default(), &both);
    // Same trace: W3C's span id is the parent, the Datadog one is kept as _dd.parent_id.
    assert_eq!(remote.dd_parent_span_id(), Some(0xb7ad6b7169203331));
    assert_eq!(remote.dd_parent_id(), Some("0000000000000001"));

    // With tracestate's p, that one is _dd.parent_id.
    both.insert(
        "tracestate".into(),
        "dd=s:1;p:00000000000000aa,other=x".into(),
    );
    let remote = extract_with(&PropagationConfig::default(), &both);
    assert_eq!(remote.dd_parent_id(), Some("00000000000000aa"));
    assert!(remote
        .context()
        .span()
        .span_context()
        .trace_state()
        .get("other")
        .is_some());

    // Another trace in W3C: the first style (datadog) wins alone.
    let mut other = map(&dd);
    other.insert(
        "traceparent".into(),
        "00-11111111111111111111111111111111-b7ad6b7169203331-01".into(),
    );
    let remote = extract_with(&PropagationConfig::default(), &other);
    assert_eq!(
        remote.trace_id().as_deref(),
        Some("0af7651916cd43dd8448eb211c80319c")
    );
    assert_eq!(remote.dd_parent_span_id(), Some(1));
    assert_eq!(remote.dd_parent_id(), None);

    // tracecontext first: W3C wins.
    let w3c_first = PropagationConfig {
        extract: vec![PropagationStyle::TraceContext, PropagationStyle::Datadog],
        ..PropagationConfig::default()
    };
    let remote = extract_with(&w3c_first, &other);
    assert_eq!(
        remote.trace_id().as_deref(),
        Some("11111111111111111111111111111111")
    );
}

#[test]
fn malformed_datadog_headers_give_no_context() {
    for (trace, parent, priority) in [
        ("0", "1", "1"),
        ("-5", "1", "1"),
        ("18446744073709551616", "1", "1"),
        ("abc", "1", "1"),
        ("5", "x", "1"),
        ("5", "-1", "1"),
        ("5", "1", "one"),
        ("5", "0", "1"),
    ] {
        let h = map(&[
            ("x-datadog-trace-id", trace),
            ("x-datadog-parent-id", parent),
            ("x-datadog-sampling-priority", priority),
        ]);
        assert!(
            !extract_with(&PropagationConfig::default(), &h).is_valid(),
            "{h:?}"
        );
    }
    // A malformed _dd.p.tid is dropped: the 64-bit trace id stays.
    let h = map(&[
        ("x-datadog-trace-id", "5"),
        ("x-datadog-parent-id", "7"),
        ("x-datadog-tags", "_dd.p.tid=XYZ"),
    ]);
    let remote = extract_with(&PropagationConfig::default(), &h);
    assert_eq!(
        remote.trace_id().as_deref(),
        Some("00000000000000000000000000000005")
    );
}

#[test]
fn none_extracts_and_injects_nothing() {
    let none = only(&[]);
    let h = map(&[
        ("traceparent", TP),
        ("x-datadog-trace-id", "5"),
        ("x-datadog-parent-id", "7"),
    ]);
    assert!(!extract_with(&none, &h).is_valid());
    let remote = extract_with(&PropagationConfig::default(), &h);
    let mut out: HashMap<String, String> = HashMap::new();
    Propagator::new(none).inject_context(remote.context(), &mut out);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn oversized_tags_are_not_injected() {
    let long = format!("dd=t.big:{}", "x".repeat(240));
    let sc = SpanContext::new(
        TraceId::from_bytes([1; 16]),
        SpanId::from_bytes([2; 8]),
        TraceFlags::SAMPLED,
        true,
        long.parse::<TraceState>().expect("tracestate"),
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(sc);
    let mut config = only(&[PropagationStyle::Datadog]);
    config.x_datadog_tags_max_length = 64;
    let mut out: HashMap<String, String> = HashMap::new();
    Propagator::new(config).inject_context(&cx, &mut out);
    assert!(out.contains_key("x-datadog-trace-id"));
    assert!(!out.contains_key("x-datadog-tags"), "{out:?}");
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}",
        "[-+ _0-9]{0,22}",
        "(_dd\\.p\\.[a-z]{1,4}=[ -~]{0,12},?){0,4}",
        "_dd\\.p\\.tid=[0-9a-fA-F]{14,18}",
        "[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}",
        "dd=[ -~]{0,40}",
    ]
}

proptest! {
    /// Any values in any of the headers: no panic; a context is only ever
    /// the one the Datadog trace id (and tid) or the traceparent names.
    #[test]
    fn arbitrary_headers_never_panic_or_join_a_wrong_trace(
        trace in header_value(), parent in header_value(), priority in header_value(),
        origin in header_value(), tags in header_value(), tp in header_value(), ts in header_value(),
        baggage in header_value(),
    ) {
        let h = map(&[
            ("x-datadog-trace-id", &trace), ("x-datadog-parent-id", &parent),
            ("x-datadog-sampling-priority", &priority), ("x-datadog-origin", &origin),
            ("x-datadog-tags", &tags), ("traceparent", &tp), ("tracestate", &ts), ("baggage", &baggage),
        ]);
        for config in [PropagationConfig::default(), only(&[PropagationStyle::Datadog]), only(&[PropagationStyle::TraceContext])] {
            let remote = extract_with(&config, &h);
            if let Some(id) = remote.trace_id() {
                let low = format!("{:016x}", remote.dd_trace_id().unwrap_or(0));
                let from_dd = trace.trim().replace('_', "").trim_start_matches('+').parse::<u64>().ok()
                    .is_some_and(|t| format!("{t:016x}") == low && id.ends_with(&low));
                let from_w3c = tp.trim().get(3..35) == Some(id.as_str());
                prop_assert!(from_dd || from_w3c, "{id} from {h:?}");
            }
            let mut out: HashMap<String, String> = HashMap::new();
            Propagator::new(config.clone()).inject_context(remote.context(), &mut out);
            if remote.is_valid() && config.injects(PropagationStyle::Datadog) {
                prop_assert_eq!(out.get("x-datadog-trace-id").and_then(|t| t.parse::<u64>().ok()), remote.dd_trace_id());
            }
        }
    }
}

/// Injected for a span of ours, the tracestate's `dd` member names it as
/// the last Datadog parent (`p`), in front, the rest kept (ddtrace's
/// `w3c_tracestate_add_p`); a remote context goes on as received.
#[test]
fn a_span_of_ours_is_the_last_datadog_parent_in_tracestate() {
    let inject = |remote: bool, state: &str| {
        let sc = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("trace id"),
            SpanId::from_hex("b7ad6b7169203331").expect("span id"),
            TraceFlags::SAMPLED,
            remote,
            state.parse::<TraceState>().expect("tracestate"),
        );
        let cx = opentelemetry::Context::new().with_remote_span_context(sc);
        let mut out: HashMap<String, String> = HashMap::new();
        Propagator::new(only(&[PropagationStyle::TraceContext])).inject_context(&cx, &mut out);
        out.remove("tracestate").unwrap_or_default()
    };
    assert_eq!(
        inject(false, "dd=s:2;p:00000000000000aa;t.dm:-4,other=x"),
        "dd=p:b7ad6b7169203331;s:2;t.dm:-4,other=x"
    );
    assert_eq!(inject(false, "other=x"), "dd=p:b7ad6b7169203331,other=x");
    assert_eq!(inject(false, ""), "dd=p:b7ad6b7169203331");
    assert_eq!(
        inject(true, "dd=s:2;p:00000000000000aa"),
        "dd=s:2;p:00000000000000aa"
    );
}
