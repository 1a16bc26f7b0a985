//! One pipeline run exported to Datadog's APM test agent over OTLP gRPC and
//! over OTLP HTTP/protobuf: one trace, run span as root, stages as children
//! (sync, async, spawned task), attributes, error status and exception
//! event, resource attributes. The HTTP run also exports OTLP log records.

mod common;

use common::*;
use pipeline_telemetry_otel::{OtelBuilder, Protocol, TracesExport};

fn export_one_run(protocol: Protocol, endpoint: &str, otlp_logs: bool) -> (Vec<Span>, String) {
    let token = token(protocol.as_str().replace('/', "-").as_str());
    let builder = OtelBuilder::new("pt-otel-test")
        .with_endpoint(endpoint)
        .with_protocol(protocol)
        .with_traces(TracesExport::Otlp)
        .with_otlp_logs(otlp_logs);
    export_run(builder, &token);

    let payloads = poll("traces", &token, |p| spans(p).len() >= 4);
    (spans(&payloads), token)
}

fn check_trace(spans: &[Span]) {
    assert_eq!(spans.len(), 4, "one run and three stages: {spans:#?}");
    let trace = &spans[0].trace_id;
    assert!(
        spans.iter().all(|s| &s.trace_id == trace),
        "one trace: {spans:#?}"
    );

    let runs: Vec<&Span> = spans.iter().filter(|s| s.name == "pipeline.run").collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0];
    assert_eq!(run.parent_span_id, None, "the run span is the root");
    assert_eq!(run.attributes["operation.name"], "pipeline.run");
    assert_eq!(run.attributes["resource.name"], "nightly-etl");
    assert_eq!(run.attributes["pipeline"], "nightly-etl");
    assert_eq!(run.attributes["pipeline_id"], "42");

    let stage = |name: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "pipeline.stage"
                    && s.attributes.get("stage").map(String::as_str) == Some(name)
            })
            .unwrap_or_else(|| panic!("stage {name} exported: {spans:#?}"))
    };
    for name in ["extract", "transform", "load"] {
        let s = stage(name);
        assert_eq!(
            s.parent_span_id.as_ref(),
            Some(&run.span_id),
            "{name} is a child of the run"
        );
        assert_eq!(s.attributes["operation.name"], "pipeline.stage");
        assert_eq!(s.attributes["resource.name"], name);
        assert_eq!(s.attributes["_dd.measured"], "1", "{name} is measured");
        assert_eq!(s.attributes["pipeline"], "nightly-etl");
        assert_eq!(s.attributes["pipeline_id"], "42");
    }
    for name in ["extract", "transform"] {
        assert_ne!(
            stage(name).status_code.as_deref(),
            Some("STATUS_CODE_ERROR"),
            "{name} succeeded"
        );
    }

    let load = stage("load");
    assert_eq!(load.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
    assert_eq!(load.status_message.as_deref(), Some(FAILURE));
    let (_, exception) = load
        .events
        .iter()
        .find(|(name, _)| name == "exception")
        .unwrap_or_else(|| panic!("exception event: {:#?}", load.events));
    assert_eq!(exception["exception.type"], FAILURE_TYPE);
    assert_eq!(exception["exception.message"], FAILURE);
    assert_eq!(
        run.status_code.as_deref().unwrap_or("STATUS_CODE_UNSET"),
        "STATUS_CODE_UNSET"
    );

    let resource = &run.resource;
    assert_eq!(resource["service.name"], "pt-otel-test");
    assert_eq!(resource["deployment.environment.name"], "ci");
    assert_eq!(resource["service.version"], "1.2.3");
    assert_eq!(resource["team"], "data");
}

#[test]
fn a_run_is_one_trace_over_grpc() {
    let (spans, _) = export_one_run(Protocol::Grpc, &agent::agent().otlp_grpc, false);
    check_trace(&spans);
}

#[test]
fn a_run_is_one_trace_over_http_with_otlp_logs() {
    let (spans, token) = export_one_run(Protocol::HttpProtobuf, &agent::agent().otlp_http, true);
    check_trace(&spans);

    let load = spans
        .iter()
        .find(|s| s.attributes.get("stage").map(String::as_str) == Some("load"))
        .expect("load stage");
    let payloads = poll("logs", &token, |p| !p.is_empty());
    let records: Vec<&serde_json::Value> = payloads
        .iter()
        .flat_map(|p| p["resource_logs"].as_array().into_iter().flatten())
        .flat_map(|rl| rl["scope_logs"].as_array().into_iter().flatten())
        .flat_map(|sl| sl["log_records"].as_array().into_iter().flatten())
        .collect();
    let failed = records
        .iter()
        .find(|r| r["body"]["string_value"].as_str() == Some("stage failed"))
        .unwrap_or_else(|| panic!("the failure was exported as a log record: {records:#?}"));
    assert_eq!(
        failed["trace_id"].as_str().map(b64_hex).as_deref(),
        Some(load.trace_id.as_str())
    );
    assert_eq!(
        failed["span_id"].as_str().map(b64_hex).as_deref(),
        Some(load.span_id.as_str())
    );
    assert_eq!(failed["severity_text"].as_str(), Some("ERROR"));
    let attrs = attributes(&failed["attributes"]);
    assert_eq!(attrs["exception.type"], FAILURE_TYPE);
    // The same search finds OTLP log records: Datadog keeps a record's
    // attributes as log attributes (`@outcome:failed`).
    assert_eq!(attrs["outcome"], "failed");
}
