//! `IncomingContext::join_run`: a request that is a PART of the caller's
//! run. Its span continues the caller's trace under the request span with
//! the caller's `pipeline_id` (APM test agent), its stage is tagged with
//! the pipeline, and it counts no `pipeline.runs` and no
//! `prefect.flow.duration` of its own, where a request that starts a run
//! (`start_run`) counts both (DogStatsD on a real UDP socket).

mod common;

use std::time::Duration;

use common::{attr, is_server, traceparent, unique_trace_id};

fn has(lines: &[String], metric: &str, tag: &str) -> bool {
    lines
        .iter()
        .any(|l| l.starts_with(&format!("{metric}:")) && l.contains(tag))
}

#[test]
fn a_joined_request_is_part_of_the_callers_run() {
    let mut h = common::start("http-join");
    let part_trace = unique_trace_id(31);
    let run_trace = unique_trace_id(32);
    let client = reqwest::blocking::Client::new();
    for (path, trace, id) in [
        ("/parts/5", &part_trace, "caller-run-5"),
        ("/items/6", &run_trace, "own-run-6"),
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
    let spans = h.spans(|s| s.iter().filter(|s| s.trace_id == part_trace).count() >= 3);
    let server = spans
        .iter()
        .find(|s| s.trace_id == part_trace && is_server(s))
        .unwrap_or_else(|| panic!("no request span in {part_trace}: {spans:#?}"));
    let part = spans
        .iter()
        .find(|s| s.trace_id == part_trace && s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("no part span in {part_trace}: {spans:#?}"));
    assert_eq!(
        part.parent_span_id.as_deref(),
        Some(server.span_id.as_str())
    );
    assert_eq!(attr(part, "pipeline"), Some("ingest_part"));
    assert_eq!(attr(part, "pipeline_id"), Some("caller-run-5"));

    let lines = h.statsd.lines_until(Duration::from_secs(10), |l| {
        has(l, "pipeline.stage.duration", "pipeline:ingest_part")
            && has(l, "prefect.flow.duration", "flow:ingest_api")
    });
    // The control: the request that started a run counted it.
    assert!(
        has(&lines, "pipeline.runs", "pipeline:ingest_api"),
        "{lines:#?}"
    );
    assert!(
        has(&lines, "prefect.flow.duration", "flow:ingest_api"),
        "{lines:#?}"
    );
    // The part: its stage counted, no run of its own.
    assert!(
        has(&lines, "pipeline.stage.duration", "pipeline:ingest_part"),
        "{lines:#?}"
    );
    assert!(
        !has(&lines, "pipeline.runs", "pipeline:ingest_part"),
        "{lines:#?}"
    );
    assert!(
        !has(&lines, "prefect.flow.duration", "flow:ingest_part"),
        "{lines:#?}"
    );
}
