//! ddtrace-py 4.x's own `requests` integration, pinned to
//! `DD_TRACE_PROPAGATION_STYLE=datadog` (no W3C headers), calls the layer:
//! the request span and the handler's run continue ddtrace's 128-bit trace
//! under ddtrace's `requests.request` span (spans read back from the APM test
//! agent). The old code read only W3C headers: a new trace.

mod common;

use std::process::Command;

use common::{attr, is_server};
use serde_json::Value;

#[test]
fn ddtrace_requests_client_in_datadog_style_continues_the_trace() {
    let mut h = common::start("http-ddtrace");
    let script = pipeline_telemetry_test_support::workspace_root()
        .join("tests/peers/ddtrace_requests_client.py");
    let out = Command::new(pipeline_telemetry_test_support::python::python())
        .arg(script)
        .arg(h.url("/items/5"))
        .env("DD_TRACE_PROPAGATION_STYLE", "datadog")
        // ddtrace's own spans go to a closed loopback port: nothing leaves.
        .env("DD_TRACE_AGENT_URL", "http://127.0.0.1:9")
        .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
        .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
        .output()
        .expect("run the ddtrace client");
    assert!(
        out.status.success(),
        "ddtrace client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).expect("the client's JSON line");
    assert_eq!(sent["status"], 200, "{sent}");
    let trace_id: u128 = sent["trace_id"]
        .as_str()
        .expect("trace id")
        .parse()
        .expect("decimal");
    assert!(
        trace_id > u128::from(u64::MAX),
        "ddtrace 4 makes 128-bit ids"
    );
    let parent: u64 = sent["requests_span_id"]
        .as_str()
        .expect("requests span id")
        .parse()
        .expect("decimal");
    let trace = format!("{trace_id:032x}");

    h.shutdown();
    let spans = h.spans(|s| s.iter().filter(|s| s.trace_id == trace).count() >= 3);
    let server = spans
        .iter()
        .find(|s| s.trace_id == trace && is_server(s))
        .unwrap_or_else(|| panic!("no request span in ddtrace's trace {trace}: {spans:#?}"));
    assert_eq!(server.parent_span_id, Some(format!("{parent:016x}")));
    assert_eq!(attr(server, "http.route"), Some("/items/{id}"));
    let run = spans
        .iter()
        .find(|s| s.trace_id == trace && s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("no run span in ddtrace's trace: {spans:#?}"));
    assert_eq!(run.parent_span_id.as_deref(), Some(server.span_id.as_str()));
}
