//! A real HTTP client sends `traceparent` and `baggage: pipeline_id=42` to
//! axum on 127.0.0.1:0 behind the layer; Datadog's APM test agent receives
//! the request span (child of the caller's span, route `/items/{id}` and
//! `url.path` `/items/7` for `/items/7?token=…`, never the query), the
//! run started in the handler (child of the request span, `pipeline_id`
//! 42) and its stage; a 500 is an error; the opt-in request
//! metric carries bounded tags only.

mod common;

use std::time::Duration;

use common::{attr, is_server, traceparent, unique_trace_id, TRACEPARENT_SPAN};

#[test]
fn request_span_continues_the_callers_trace_and_run() {
    let mut h = common::start("http-request-span");
    let ok_trace = unique_trace_id(1);
    let fail_trace = unique_trace_id(2);
    let client = reqwest::blocking::Client::new();

    let resp = client
        .get(h.url("/items/7?token=hush-hush"))
        .header("traceparent", traceparent(&ok_trace))
        .header("baggage", "pipeline_id=42")
        .header("user-agent", "pt-test-client/1.0")
        .send()
        .expect("GET /items/7");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().expect("body"),
        "42",
        "the run kept the caller's pipeline_id"
    );

    let resp = client
        .get(h.url("/fail"))
        .header("traceparent", traceparent(&fail_trace))
        .send()
        .expect("GET /fail");
    assert_eq!(resp.status(), 500);

    h.shutdown();
    let spans = h.spans(|s| {
        s.iter().filter(|s| s.trace_id == ok_trace).count() >= 3
            && s.iter().any(|s| s.trace_id == fail_trace)
    });

    let server = spans
        .iter()
        .find(|s| s.trace_id == ok_trace && is_server(s))
        .unwrap_or_else(|| panic!("no SERVER span in trace {ok_trace}: {spans:#?}"));
    assert_eq!(server.parent_span_id.as_deref(), Some(TRACEPARENT_SPAN));
    assert_eq!(server.name, "GET /items/{id}");
    assert_eq!(attr(server, "http.route"), Some("/items/{id}"));
    assert_eq!(attr(server, "http.request.method"), Some("GET"));
    assert_eq!(attr(server, "http.response.status_code"), Some("200"));
    assert_eq!(attr(server, "url.scheme"), Some("http"));
    assert_eq!(attr(server, "server.address"), Some("127.0.0.1"));
    assert_eq!(attr(server, "client.address"), Some("127.0.0.1"));
    assert_eq!(
        attr(server, "user_agent.original"),
        Some("pt-test-client/1.0")
    );
    assert_eq!(attr(server, "operation.name"), Some("http.server.request"));
    assert_eq!(attr(server, "resource.name"), Some("GET /items/{id}"));
    assert_eq!(attr(server, "pipeline_id"), Some("42"));
    assert_ne!(server.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    assert_eq!(attr(server, "url.path"), Some("/items/7"));
    assert!(
        server.attributes.values().all(|v| !v.contains("hush-hush")),
        "the query is never recorded: {server:#?}"
    );

    let run = spans
        .iter()
        .find(|s| s.trace_id == ok_trace && s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("no run span in trace {ok_trace}: {spans:#?}"));
    assert_eq!(run.parent_span_id.as_deref(), Some(server.span_id.as_str()));
    assert_eq!(attr(run, "pipeline_id"), Some("42"));
    assert_eq!(attr(run, "pipeline"), Some("ingest_api"));
    let stage = spans
        .iter()
        .find(|s| s.trace_id == ok_trace && s.name == "pipeline.stage")
        .unwrap_or_else(|| panic!("no stage span in trace {ok_trace}: {spans:#?}"));
    assert_eq!(stage.parent_span_id.as_deref(), Some(run.span_id.as_str()));

    let failed = spans
        .iter()
        .find(|s| s.trace_id == fail_trace && is_server(s))
        .unwrap_or_else(|| panic!("no SERVER span in trace {fail_trace}: {spans:#?}"));
    assert_eq!(failed.name, "GET /fail");
    assert_eq!(attr(failed, "http.response.status_code"), Some("500"));
    assert_eq!(attr(failed, "error.type"), Some("500"));
    assert_eq!(failed.status_code.as_deref(), Some("STATUS_CODE_ERROR"));

    let lines = h.statsd.lines_until(Duration::from_secs(5), |l| {
        l.iter()
            .filter(|l| l.starts_with("pipeline.http.request.duration:"))
            .count()
            >= 2
    });
    let requests: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("pipeline.http.request.duration:"))
        .collect();
    assert!(
        requests.iter().any(|l| l.contains("|d|")
            && l.contains("route:/items/")
            && l.contains("method:GET")
            && l.contains("status_class:2xx")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("route:/fail") && l.contains("status_class:5xx")),
        "{requests:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("items/7") && !l.contains(":42")),
        "no raw path or pipeline_id in metric tags: {lines:#?}"
    );
}
