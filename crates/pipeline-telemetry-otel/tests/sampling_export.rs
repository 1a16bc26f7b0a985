//! Sampling end to end: what reaches Datadog's APM test agent over OTLP
//! follows the decision (`DD_TRACE_SAMPLE_RATE`, rules), an upstream
//! `x-datadog-sampling-priority` of 2 or -1 is honoured, and the decision
//! goes downstream in the headers, which ddtrace-py 4.16's own extractor
//! reads back (`tests/peers/ddtrace_propagation.py`).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use pipeline_telemetry_otel::{
    extract, inject_context, OtelBuilder, Protocol, SamplingConfig, TracesExport,
};
use pipeline_telemetry_test_support::python::JsonPeer;
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

/// Upstream Datadog headers of a new trace with `priority` (none: the
/// upstream left the decision to us) and `tags`.
fn upstream_with(trace_id: u64, priority: Option<i64>, tags: &str) -> BTreeMap<String, String> {
    let mut h: BTreeMap<String, String> = [
        ("x-datadog-trace-id", trace_id.to_string()),
        ("x-datadog-parent-id", "77".to_owned()),
        ("x-datadog-tags", tags.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(p) = priority {
        h.insert("x-datadog-sampling-priority".into(), p.to_string());
    }
    h
}

fn upstream(trace_id: u64, priority: i64) -> BTreeMap<String, String> {
    upstream_with(trace_id, Some(priority), "_dd.p.dm=-4")
}

/// A run (with one stage) under `parent` if given; returns the stage's
/// injected headers and the trace id (hex).
fn run(
    pipeline: &str,
    parent: Option<&BTreeMap<String, String>>,
) -> (BTreeMap<String, String>, String) {
    let run = run_span(pipeline, "1");
    if let Some(headers) = parent {
        extract(headers).set_parent(&run).expect("a parent");
    }
    let _r = run.enter();
    let stage = stage_span("load", pipeline, "1");
    let _s = stage.enter();
    let mut out = BTreeMap::new();
    inject_context(&stage, &mut out);
    let trace_id = out["traceparent"]
        .split('-')
        .nth(1)
        .expect("trace id")
        .to_owned();
    (out, trace_id)
}

fn export(
    builder: OtelBuilder,
    token: &str,
    runs: impl FnOnce() -> Vec<(BTreeMap<String, String>, String)>,
) -> Vec<(BTreeMap<String, String>, String)> {
    let (layer, guard) = builder
        .with_endpoint(&agent::agent().otlp_http)
        .with_protocol(Protocol::HttpProtobuf)
        .with_header(TOKEN_HEADER, token)
        .with_traces(TracesExport::Otlp)
        .build_layer::<Registry>()
        .expect("build layers");
    let out = tracing::subscriber::with_default(Registry::default().with(layer), runs);
    // Every kept span is at the agent once shutdown returns.
    guard
        .shutdown(Duration::from_secs(10))
        .expect("clean shutdown");
    out
}

/// `DD_TRACE_SAMPLE_RATE=0` from the environment: a trace of ours is
/// rejected (`USER_REJECT`, not exported), one whose upstream said
/// `USER_KEEP` is exported, and each says so downstream.
#[test]
fn sample_rate_zero_rejects_but_upstream_keep_is_honoured() {
    std::env::set_var("DD_TRACE_SAMPLE_RATE", "0");
    let builder = OtelBuilder::from_env().with_service("pt-sampling");
    std::env::remove_var("DD_TRACE_SAMPLE_RATE");
    let token = token("sampling-rate-zero");
    let out = export(builder, &token, || {
        vec![run("ours", None), run("theirs", Some(&upstream(4242, 2)))]
    });
    let (ours, theirs) = (&out[0], &out[1]);
    assert_eq!(ours.0["x-datadog-sampling-priority"], "-1", "{ours:?}");
    assert!(ours.0["x-datadog-tags"].contains("_dd.p.dm=-3"), "{ours:?}");
    assert!(ours.0["traceparent"].ends_with("-00"), "{ours:?}");
    assert_eq!(theirs.0["x-datadog-sampling-priority"], "2", "{theirs:?}");
    assert!(
        theirs.0["x-datadog-tags"].contains("_dd.p.dm=-4"),
        "{theirs:?}"
    );
    assert!(theirs.0["traceparent"].ends_with("-01"), "{theirs:?}");

    let spans = agent::poll_spans(&token, |s| s.len() >= 2);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert!(
        spans.iter().all(|s| s.trace_id == theirs.1),
        "only the kept trace: {spans:#?}"
    );
}

/// Rules: `drop-*` at 0, everything else at 1. Kept and rejected traces of
/// ours, and upstream decisions that contradict the rules, which win.
#[test]
fn rules_decide_and_upstream_decisions_win() {
    let config = SamplingConfig::new()
        .with_rules_json(r#"[{"sample_rate": 0, "resource": "drop-*"}, {"sample_rate": 1}]"#)
        .expect("rules");
    let token = token("sampling-rules");
    let out = export(
        OtelBuilder::new("pt-sampling").with_sampling(config),
        &token,
        || {
            vec![
                run("keep-me", None),
                run("drop-me", None),
                run("drop-but-upstream-keeps", Some(&upstream(5151, 2))),
                run("keep-but-upstream-rejects", Some(&upstream(6161, -1))),
                // No upstream priority: we decide, as ddtrace does, keeping
                // an upstream decision maker.
                run(
                    "drop-undecided",
                    Some(&upstream_with(7171, None, "_dd.p.x=y")),
                ),
                run(
                    "keep-undecided",
                    Some(&upstream_with(8181, None, "_dd.p.dm=-4")),
                ),
            ]
        },
    );
    let priorities: Vec<&str> = out
        .iter()
        .map(|(h, _)| h["x-datadog-sampling-priority"].as_str())
        .collect();
    assert_eq!(priorities, ["2", "-1", "2", "-1", "-1", "2"], "{out:#?}");
    assert_eq!(out[4].0["x-datadog-trace-id"], "7171");
    assert_eq!(
        out[4].0["x-datadog-tags"], "_dd.p.x=y,_dd.p.dm=-3",
        "{:?}",
        out[4]
    );
    assert_eq!(out[5].0["x-datadog-tags"], "_dd.p.dm=-4", "{:?}", out[5]);

    // ddtrace reads our rejected trace's headers as we meant them.
    let mut peer = JsonPeer::start(
        "ddtrace_propagation.py",
        &[("DD_TRACE_PROPAGATION_STYLE", "datadog")],
    );
    let extract = |peer: &mut JsonPeer, headers: &BTreeMap<String, String>| {
        peer.ask(&json!({"op": "extract", "headers": headers}))
    };
    let got = extract(&mut peer, &out[1].0);
    assert_eq!(got["sampling_priority"], -1, "{got}");
    assert_eq!(got["meta"]["_dd.p.dm"], "-3", "{got}");
    let got = extract(&mut peer, &out[0].0);
    assert_eq!(got["sampling_priority"], 2, "{got}");

    let payloads = poll("traces", &token, |p| spans(p).len() >= 6);
    let spans = spans(&payloads);
    let kept = [&out[0].1, &out[2].1, &out[5].1];
    assert_eq!(spans.len(), 6, "{spans:#?}");
    assert!(
        spans.iter().all(|s| kept.contains(&&s.trace_id)),
        "{spans:#?}"
    );
    // Our own kept root carries the rule's rates and its tracestate the
    // decision; the upstream-decided one has neither rate.
    let root = spans
        .iter()
        .find(|s| s.name == "pipeline.run" && &s.trace_id == kept[0])
        .expect("our kept root");
    assert_eq!(root.attributes["_dd.rule_psr"], "1.0", "{root:#?}");
    assert_eq!(root.attributes["_dd.limit_psr"], "1.0", "{root:#?}");
    assert_eq!(root.attributes["_dd.p.ksr"], "1", "{root:#?}");
    let states: Vec<&str> = payloads
        .iter()
        .flat_map(|p| p["resource_spans"].as_array().into_iter().flatten())
        .flat_map(|rs| rs["scope_spans"].as_array().into_iter().flatten())
        .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
        .filter_map(|s| s["trace_state"].as_str())
        .collect();
    assert!(
        states.iter().filter(|s| **s == "dd=s:2;t.dm:-3").count() == 2,
        "{states:?}"
    );
    let upstream_root = spans
        .iter()
        .find(|s| s.name == "pipeline.run" && &s.trace_id == kept[1])
        .expect("the upstream-kept root");
    assert!(
        !upstream_root.attributes.contains_key("_dd.rule_psr"),
        "{upstream_root:#?}"
    );
}

/// Percent-encodes a query value.
fn query(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The native path: the Agent's trace intake answers with
/// `rate_by_service` (the test agent's session rates), the exporter hands
/// it to [`AgentRates`](pipeline_telemetry_otel::AgentRates), and the next
/// trace of this service and env is decided by it (`AUTO_REJECT` at rate
/// 0, decision maker `-1`). Both traces reach the intake, as Datadog's
/// tracers send them: the rejected one with priority 0, which the Agent
/// counts in the trace metrics and then drops.
#[test]
fn the_agents_rates_decide_later_traces_on_the_native_path() {
    let token = token("sampling-agent-rates");
    let trace_url = &agent::agent().trace_url;
    let rates = json!({"service:pt-agent-rates,env:ci": 0.0}).to_string();
    let start = format!(
        "{trace_url}/test/session/start?test_session_token={token}&agent_sample_rate_by_service={}",
        query(&rates)
    );
    reqwest::blocking::get(&start)
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("GET {start}: {e}"));

    let builder = OtelBuilder::new("pt-agent-rates")
        .with_env("ci")
        .with_trace_agent_url(trace_url)
        .with_traces(TracesExport::Datadog)
        .with_header(TOKEN_HEADER, &token);
    let handle = builder.agent_rates();
    let (layer, guard) = builder.build_layer::<Registry>().expect("build layers");
    let (first, second) =
        tracing::subscriber::with_default(Registry::default().with(layer), || {
            let first = run("first", None);
            // Sent, and the answer's rates taken, before the next trace starts.
            guard.flush(Duration::from_secs(10)).expect("flush");
            (first, run("second", None))
        });
    guard
        .shutdown(Duration::from_secs(10))
        .expect("clean shutdown");
    assert_eq!(handle.get("service:pt-agent-rates,env:ci"), Some(0.0));
    assert_eq!(first.0["x-datadog-sampling-priority"], "1", "{first:?}");
    assert_eq!(second.0["x-datadog-sampling-priority"], "0", "{second:?}");
    assert!(
        second.0["x-datadog-tags"].contains("_dd.p.dm=-1"),
        "{second:?}"
    );

    let spans =
        pipeline_telemetry_test_support::native::poll_native_spans(&token, |s| s.len() >= 4);
    assert_eq!(spans.len(), 4, "both traces: {spans:#?}");
    let root = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == "pipeline.run" && s["resource"] == name)
            .unwrap_or_else(|| panic!("the run {name}: {spans:#?}"))
    };
    let kept = root("first");
    assert_eq!(kept["metrics"]["_sampling_priority_v1"], 1.0, "{kept}");
    let rejected = root("second");
    assert_eq!(
        rejected["metrics"]["_sampling_priority_v1"], 0.0,
        "{rejected}"
    );
    assert_eq!(rejected["meta"]["_dd.p.dm"], "-1", "{rejected}");
    assert_eq!(rejected["metrics"]["_dd.agent_psr"], 0.0, "{rejected}");
    assert_eq!(
        pipeline_telemetry_test_support::native::trace_check_failures(&token),
        None
    );
}
