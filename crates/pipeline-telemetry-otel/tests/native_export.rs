//! One pipeline run sent to the Agent's own trace intake (`/v0.4/traces`),
//! here Datadog's APM test agent's trace API, over TCP and over a Unix
//! socket: the checks of `otlp_export.rs` on the Datadog spans the intake
//! received, and Datadog's trace checks (enabled by
//! `scripts/start-test-agent.sh`) report nothing.

mod common;

use std::collections::HashMap;

use common::*;
use pipeline_telemetry_otel::{OtelBuilder, TracesExport};
use pipeline_telemetry_test_support::native::{poll_native_spans, trace_check_failures};
use serde_json::Value;

fn export_one_run(builder: OtelBuilder, label: &str) -> (Vec<Value>, String) {
    let token = token(label);
    let logs = export_run(builder, &token);
    let spans = poll_native_spans(&token, |s| s.len() >= 4);
    check_log_correlation(&spans, &logs);
    (spans, token)
}

/// The failure's log line names the load span as Datadog's log pipeline
/// links it: the 128-bit trace id in 32 hex digits, the span id in decimal.
fn check_log_correlation(spans: &[Value], logs: &str) {
    let failed: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "stage failed")
        .unwrap_or_else(|| panic!("the failure's log line: {logs}"));
    let load = spans
        .iter()
        .find(|s| meta(s, "stage") == Some("load"))
        .expect("the load span");
    let hex = meta(load, "otel.trace_id").expect("otel.trace_id");
    assert_eq!(failed["dd.trace_id"].as_str(), Some(hex));
    assert_eq!(
        failed["dd.span_id"]
            .as_str()
            .and_then(|s| s.parse::<u64>().ok()),
        load["span_id"].as_u64()
    );
    // The chunk's root carries the high half, the span its low half.
    let root = spans
        .iter()
        .find(|s| s["name"] == "pipeline.run")
        .expect("run");
    assert_eq!(meta(root, "_dd.p.tid"), Some(&hex[..16]));
    assert_eq!(
        format!("{:016x}", load["trace_id"].as_u64().unwrap_or(0)),
        hex[16..]
    );
}

fn meta<'a>(s: &'a Value, k: &str) -> Option<&'a str> {
    s["meta"][k].as_str()
}

fn check_trace(spans: &[Value]) {
    assert_eq!(spans.len(), 4, "one run and three stages: {spans:#?}");
    let trace = &spans[0]["trace_id"];
    assert!(spans.iter().all(|s| &s["trace_id"] == trace), "one trace");
    let run = spans
        .iter()
        .find(|s| s["name"] == "pipeline.run")
        .expect("the run span");
    assert_eq!(
        run["parent_id"].as_u64().unwrap_or(0),
        0,
        "the run is the root"
    );
    assert_eq!(run["resource"], "nightly-etl");
    assert_eq!(meta(run, "pipeline"), Some("nightly-etl"));
    assert_eq!(meta(run, "pipeline_id"), Some("42"));
    assert_eq!(run["error"], 0);
    assert_eq!(run["metrics"]["_dd.top_level"], 1.0, "the run is top level");
    // What the tracer sets on a chunk's root: the sampling priority, the
    // high half of the 128-bit trace id, the language.
    assert_eq!(run["metrics"]["_sampling_priority_v1"], 1.0);
    // The default decision's maker, as ddtrace writes it on its roots.
    assert_eq!(meta(run, "_dd.p.dm"), Some("-0"));
    let tid = meta(run, "_dd.p.tid").expect("_dd.p.tid on the root");
    let otel_id = meta(run, "otel.trace_id").expect("otel.trace_id");
    assert_eq!(tid, &otel_id[..16]);
    assert_eq!(
        u64::from_str_radix(&otel_id[16..], 16).ok(),
        run["trace_id"].as_u64()
    );

    let by_stage: HashMap<&str, &Value> = spans
        .iter()
        .filter(|s| s["name"] == "pipeline.stage")
        .map(|s| (meta(s, "stage").unwrap_or_default(), s))
        .collect();
    for name in ["extract", "transform", "load"] {
        let s = by_stage[name];
        assert_eq!(
            s["parent_id"], run["span_id"],
            "{name} is a child of the run"
        );
        assert_eq!(s["resource"], name);
        assert_eq!(meta(s, "pipeline"), Some("nightly-etl"));
        assert_eq!(meta(s, "pipeline_id"), Some("42"));
        assert_eq!(s["metrics"]["_dd.measured"], 1.0, "{name} is measured");
        assert!(
            s["metrics"].get("_dd.top_level").is_none(),
            "{name} is not top level"
        );
    }
    assert_eq!(by_stage["extract"]["error"], 0);
    assert_eq!(by_stage["transform"]["error"], 0);
    let load = by_stage["load"];
    assert_eq!(load["error"], 1);
    assert_eq!(meta(load, "error.message"), Some(FAILURE));
    assert_eq!(meta(load, "error.type"), Some(FAILURE_TYPE));
    for s in spans {
        assert_eq!(s["service"], "pt-otel-test");
        assert_eq!(s["type"], "custom");
        assert_eq!(meta(s, "env"), Some("ci"));
        assert_eq!(meta(s, "version"), Some("1.2.3"));
        assert_eq!(meta(s, "team"), Some("data"));
    }
}

#[test]
fn a_run_is_one_trace_at_the_trace_intake() {
    let b = OtelBuilder::new("pt-otel-test").with_trace_agent_url(&agent::agent().trace_url);
    let (spans, token) = export_one_run(b, "native-tcp");
    check_trace(&spans);
    assert_eq!(trace_check_failures(&token), None);
}

/// The Agent's trace intake given as host and port only (`DD_AGENT_HOST`,
/// `DD_TRACE_AGENT_PORT`), no OTLP variable: spans go there, not over OTLP.
#[test]
fn agent_host_and_port_alone_choose_the_trace_intake() {
    let url = &agent::agent().trace_url;
    let port = url.rsplit(':').next().expect("a port").to_owned();
    let b = OtelBuilder::from_lookup(move |k| match k {
        "DD_AGENT_HOST" => Some("127.0.0.1".to_owned()),
        "DD_TRACE_AGENT_PORT" => Some(port.clone()),
        _ => None,
    })
    .with_service("pt-otel-test");
    let (spans, token) = export_one_run(b, "native-host-port");
    check_trace(&spans);
    assert_eq!(trace_check_failures(&token), None);
}

/// The checks do fail a payload that breaks them: a trace count header
/// that does not match.
#[test]
fn the_trace_checks_can_fail() {
    let token = token("native-check-fails");
    let r = reqwest::blocking::Client::new()
        .put(format!("{}/v0.4/traces", agent::agent().trace_url))
        .header(TOKEN_HEADER, &token)
        .header("Content-Type", "application/msgpack")
        .header("X-Datadog-Trace-Count", "2")
        .header("Datadog-Meta-Tracer-Version", "0")
        .body(vec![0x91, 0x90])
        .send()
        .expect("PUT");
    assert_eq!(r.status().as_u16(), 400);
    let failures = trace_check_failures(&token).expect("a failure");
    assert!(failures.contains("X-Datadog-Trace-Count"), "{failures}");
}

/// The same run over the Agent's Unix socket: a socket here forwards each
/// connection to the test agent's trace API.
#[test]
fn a_run_is_one_trace_over_the_unix_socket() {
    let dir = std::env::temp_dir().join(format!("pt-native-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let socket = dir.join("apm.socket");
    let target = agent::agent()
        .trace_url
        .trim_start_matches("http://")
        .to_owned();
    forward_unix_to_tcp(&socket, target);
    let b = OtelBuilder::new("pt-otel-test")
        .with_trace_agent_url(format!("unix://{}", socket.display()))
        .with_traces(TracesExport::Datadog);
    let (spans, token) = export_one_run(b, "native-uds");
    check_trace(&spans);
    assert_eq!(trace_check_failures(&token), None);
    let _ = std::fs::remove_dir_all(&dir);
}

fn forward_unix_to_tcp(socket: &std::path::Path, target: String) {
    let listener = std::os::unix::net::UnixListener::bind(socket).expect("bind the socket");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut from) = conn else { continue };
            let Ok(mut to) = std::net::TcpStream::connect(&target) else {
                continue;
            };
            let (mut from2, mut to2) = (
                from.try_clone().expect("clone"),
                to.try_clone().expect("clone"),
            );
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from2, &mut to2);
                let _ = to2.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut to, &mut from);
                let _ = from.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}
