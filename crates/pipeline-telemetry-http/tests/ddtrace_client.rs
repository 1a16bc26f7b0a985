//! ddtrace-py 4.x's own `requests` integration calls the layer, both sides in
//! the same `DD_TRACE_PROPAGATION_STYLE` (`datadog`, `tracecontext`, unset):
//! the request span and the handler's run continue ddtrace's 128-bit trace
//! under ddtrace's `requests.request` span, as the APM test agent shows for
//! both sides (ddtrace's spans on its trace API, ours over OTLP, one session
//! token). The caller's `pipeline_id` (W3C baggage on ddtrace's span) is
//! kept only where ddtrace sends baggage: the default style; ddtrace's
//! `datadog` and `tracecontext` styles carry none. The old code read only
//! W3C headers: a new trace in `datadog` style.

mod common;

use common::{attr, is_server};
use pipeline_telemetry_test_support::ddtrace::{self, Style};
use serde_json::Value;

const PIPELINE_ID: &str = "py-run:5/a=b@c+d_e.f";

#[test]
fn ddtrace_requests_client_in_datadog_style() {
    ddtrace::in_style(
        "ddtrace_requests_client_in_datadog_style",
        Style::Datadog,
        client_calls_the_layer,
    );
}

#[test]
fn ddtrace_requests_client_in_tracecontext_style() {
    ddtrace::in_style(
        "ddtrace_requests_client_in_tracecontext_style",
        Style::TraceContext,
        client_calls_the_layer,
    );
}

#[test]
fn ddtrace_requests_client_in_the_default_style() {
    ddtrace::in_style(
        "ddtrace_requests_client_in_the_default_style",
        Style::Default,
        client_calls_the_layer,
    );
}

fn client_calls_the_layer(style: Style) {
    let mut h = common::start("http-ddtrace-client");
    let out = ddtrace::peer("ddtrace_requests_client.py", &h.token, style)
        .arg(h.url("/items/5"))
        .arg(PIPELINE_ID)
        .output()
        .expect("run the ddtrace client");
    assert!(
        out.status.success(),
        "ddtrace client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Value = serde_json::from_slice(&out.stdout).expect("the client's JSON line");
    assert_eq!(sent["status"], 200, "{sent}");
    ddtrace::assert_style_headers(style, &sent["headers"], PIPELINE_ID);
    let trace_id = ddtrace::id(&sent["trace_id"]);
    assert!(
        trace_id > u128::from(u64::MAX),
        "ddtrace 4 makes 128-bit ids"
    );
    let parent = format!("{:016x}", ddtrace::id(&sent["requests_span_id"]));
    let trace = format!("{trace_id:032x}");
    // The handler answers with its run's pipeline_id.
    let run_id = sent["body"].as_str().expect("the body");
    assert_eq!(run_id == PIPELINE_ID, style.carries_baggage(), "{sent}");

    h.shutdown();
    let spans = h.spans(|s| s.iter().filter(|s| s.trace_id == trace).count() >= 3);
    let server = spans
        .iter()
        .find(|s| s.trace_id == trace && is_server(s))
        .unwrap_or_else(|| panic!("no request span in ddtrace's trace {trace}: {spans:#?}"));
    assert_eq!(server.parent_span_id.as_deref(), Some(parent.as_str()));
    assert_eq!(attr(server, "http.route"), Some("/items/{id}"));
    let run = spans
        .iter()
        .find(|s| s.trace_id == trace && s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("no run span in ddtrace's trace: {spans:#?}"));
    assert_eq!(run.parent_span_id.as_deref(), Some(server.span_id.as_str()));
    assert_eq!(attr(run, "pipeline_id"), Some(run_id));

    // ddtrace's side of the same trace, as its tracer reported it.
    let theirs =
        ddtrace::poll_dd_spans(&h.token, |s| s.iter().any(|s| s.name == "requests.request"));
    let request = theirs
        .iter()
        .find(|s| s.name == "requests.request")
        .unwrap_or_else(|| panic!("ddtrace's requests span: {theirs:#?}"));
    assert_eq!(request.trace_hex(), trace);
    assert_eq!(request.span_hex(), parent);
    let batch = theirs
        .iter()
        .find(|s| s.name == "client.batch")
        .unwrap_or_else(|| panic!("ddtrace's root span: {theirs:#?}"));
    assert_eq!(request.parent_id, batch.span_id);
}
