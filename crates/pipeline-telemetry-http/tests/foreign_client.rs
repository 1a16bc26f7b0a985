//! A client nobody here wrote — `curl` — sends W3C `traceparent`,
//! `tracestate` and `baggage` to the layer; the request span continues
//! curl's trace under curl's parent span, and the run in the handler keeps
//! the `pipeline_id` curl sent.

mod common;

use std::process::Command;

use common::{attr, is_server, traceparent, unique_trace_id, TRACEPARENT_SPAN};

#[test]
fn curl_with_w3c_headers_continues_the_trace() {
    let mut h = common::start("http-curl");
    let trace = unique_trace_id(3);
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "10"])
        .arg("-H")
        .arg(format!("traceparent: {}", traceparent(&trace)))
        .arg("-H")
        .arg("tracestate: dd=s:1;o:rum")
        .arg("-H")
        .arg("baggage: pipeline_id=curl-77,team=data")
        .arg(h.url("/items/5"))
        .output()
        .unwrap_or_else(|e| {
            panic!("curl must be installed for this test (apt-get install curl): {e}")
        });
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "curl-77");

    h.shutdown();
    let spans = h.spans(|s| s.iter().filter(|s| s.trace_id == trace).count() >= 3);
    let server = spans
        .iter()
        .find(|s| s.trace_id == trace && is_server(s))
        .unwrap_or_else(|| panic!("no request span in curl's trace: {spans:#?}"));
    assert_eq!(server.parent_span_id.as_deref(), Some(TRACEPARENT_SPAN));
    assert_eq!(attr(server, "http.route"), Some("/items/{id}"));
    assert!(attr(server, "user_agent.original").is_some_and(|ua| ua.starts_with("curl/")));
    let run = spans
        .iter()
        .find(|s| s.trace_id == trace && s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("no run span in curl's trace: {spans:#?}"));
    assert_eq!(run.parent_span_id.as_deref(), Some(server.span_id.as_str()));
    assert_eq!(attr(run, "pipeline_id"), Some("curl-77"));
}
