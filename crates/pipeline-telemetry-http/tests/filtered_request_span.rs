//! The caller's trace goes on when the request span is not in it: with a
//! trace filter that leaves this crate's spans out
//! (`pipeline_telemetry_http=off`, the per-layer filter of the
//! OpenTelemetry layer), the run started in the handler is a child of the
//! caller's span itself, in the caller's trace, with the caller's
//! `pipeline_id`; likewise for a route without the layer, where
//! `IncomingContext` reads the headers, and for parts of the caller's run
//! (`join_run`) in both cases. Datadog's APM test agent shows
//! what was exported.

mod common;

use common::{attr, is_server, traceparent, unique_trace_id, TRACEPARENT_SPAN};
use pipeline_telemetry_http::HttpTelemetryLayer;

#[test]
fn a_run_continues_the_callers_trace_when_the_request_span_is_filtered_out() {
    let mut h = common::start_with(
        "http-filtered-span",
        Some("info,pipeline_telemetry_http=off"),
        common::app_with(HttpTelemetryLayer::new()),
    );
    let filtered_trace = unique_trace_id(11);
    let bare_trace = unique_trace_id(12);
    let part_trace = unique_trace_id(13);
    let bare_part_trace = unique_trace_id(14);
    let client = reqwest::blocking::Client::new();
    for (path, trace, id) in [
        ("/items/3", &filtered_trace, "filtered-3"),
        ("/bare/4", &bare_trace, "bare-4"),
        ("/parts/5", &part_trace, "part-5"),
        ("/bare-parts/6", &bare_part_trace, "bare-part-6"),
    ] {
        let resp = client
            .get(h.url(path))
            .header("traceparent", traceparent(trace))
            .header("baggage", format!("pipeline_id={id}"))
            .send()
            .expect("request");
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.text().expect("body"), id, "{path}");
    }

    h.shutdown();
    let spans = h.spans(|s| {
        [&filtered_trace, &bare_trace, &part_trace, &bare_part_trace]
            .iter()
            .all(|t| {
                s.iter()
                    .filter(|s| &&s.trace_id == t && s.name.starts_with("pipeline."))
                    .count()
                    >= 2
            })
    });
    assert!(
        spans.iter().all(|s| !is_server(s)),
        "the filter left the request spans out: {spans:#?}"
    );
    for (trace, id) in [
        (&filtered_trace, "filtered-3"),
        (&bare_trace, "bare-4"),
        (&part_trace, "part-5"),
        (&bare_part_trace, "bare-part-6"),
    ] {
        let run = spans
            .iter()
            .find(|s| &s.trace_id == trace && s.name == "pipeline.run")
            .unwrap_or_else(|| panic!("no run in the caller's trace {trace}: {spans:#?}"));
        assert_eq!(
            run.parent_span_id.as_deref(),
            Some(TRACEPARENT_SPAN),
            "the run is a child of the caller's span: {run:#?}"
        );
        assert_eq!(attr(run, "pipeline_id"), Some(id));
        let stage = spans
            .iter()
            .find(|s| &s.trace_id == trace && s.name == "pipeline.stage")
            .unwrap_or_else(|| panic!("no stage in trace {trace}: {spans:#?}"));
        assert_eq!(stage.parent_span_id.as_deref(), Some(run.span_id.as_str()));
    }
}
