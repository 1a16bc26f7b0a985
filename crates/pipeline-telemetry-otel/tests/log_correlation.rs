//! The JSON log line of a stage carries Datadog's correlation fields, and
//! its `dd.trace_id` is the 128-bit trace id the stage's span was exported
//! with (read back from the test agent), in ddtrace's form: 32 hex digits.

mod common;

use std::time::Duration;

use common::*;
use pipeline_telemetry_otel::{LogFormat, OtelBuilder, Protocol, TracesExport};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

#[test]
fn json_lines_correlate_with_exported_spans() {
    let token = token("logs");
    let logs = Captured::default();
    let (layer, guard) = OtelBuilder::new("pt-logs")
        .with_env("ci")
        .with_version("9.9.9")
        .with_endpoint(&agent::agent().otlp_http)
        .with_protocol(Protocol::HttpProtobuf)
        .with_header(TOKEN_HEADER, &token)
        .with_traces(TracesExport::Otlp)
        .with_log_format(LogFormat::Json)
        .with_log_writer(logs.clone())
        .build_layer::<Registry>()
        .expect("build layers");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        runtime().block_on(run_pipeline("nightly-etl", "42"));
    });
    guard.shutdown(Duration::from_secs(10)).expect("flushed");
    let spans = spans(&poll("traces", &token, |p| spans(p).len() >= 4));

    let text = logs.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l}"))
        })
        .collect();
    let line = |message: &str| {
        lines
            .iter()
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("a line {message:?} in:\n{text}"))
    };
    let stage_span = |stage: &str| {
        spans
            .iter()
            .find(|s| s.attributes.get("stage").map(String::as_str) == Some(stage))
            .unwrap_or_else(|| panic!("span of {stage}: {spans:#?}"))
    };

    let failed = line("stage failed");
    let load = stage_span("load");
    assert_eq!(
        failed["dd.trace_id"].as_str(),
        Some(dd_trace_id(&load.trace_id).as_str())
    );
    assert_eq!(
        failed["dd.span_id"].as_str(),
        Some(
            u64::from_str_radix(&load.span_id, 16)
                .expect("hex")
                .to_string()
                .as_str()
        )
    );
    // Datadog's JSON preprocessing reads `status`, `service` and `ddsource`
    // as the log's status, service and source; a status starting with `f`
    // would be read as `emergency`, so the failure is an `error` with
    // `outcome: failed`.
    assert_eq!(failed["status"], "error");
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["level"], "error");
    assert_eq!(failed["ddsource"], "pipeline");
    assert_eq!(failed["service"], "pt-logs");
    assert!(failed.get("source").is_none());
    assert_eq!(failed["dd.service"], "pt-logs");
    assert_eq!(failed["dd.env"], "ci");
    assert_eq!(failed["dd.version"], "9.9.9");
    assert_eq!(failed["pipeline_id"], "42");
    assert_eq!(failed["pipeline"], "nightly-etl");
    assert_eq!(failed["stage"], "load");
    assert_eq!(failed["error.kind"], FAILURE_TYPE);
    assert_eq!(failed["error.message"], FAILURE);
    assert!(failed["timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z') && t.len() == 24));

    let extracted = line("extracted");
    let extract = stage_span("extract");
    assert_eq!(extracted["status"], "info");
    assert!(extracted.get("outcome").is_none());
    assert_eq!(extracted["service"], "pt-logs");
    assert_eq!(extracted["stage"], "extract");
    assert_eq!(extracted["records"], 3);
    assert_eq!(
        extracted["dd.trace_id"].as_str(),
        Some(dd_trace_id(&extract.trace_id).as_str())
    );

    let transformed = line("transformed");
    assert_eq!(transformed["stage"], "transform");
    assert_eq!(
        transformed["dd.trace_id"], failed["dd.trace_id"],
        "one trace per run"
    );
}

#[test]
fn events_outside_spans_have_no_trace_ids() {
    let logs = Captured::default();
    let (layer, guard) = OtelBuilder::new("pt-logs")
        .with_traces(TracesExport::Off)
        .with_log_format(LogFormat::Json)
        .with_log_writer(logs.clone())
        .build_layer::<Registry>()
        .expect("build layers");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        tracing::info!(
            pipeline_id = 7,
            message_count = 2_u64,
            ratio = 0.5,
            ok = true,
            "plain"
        );
        tracing::debug!("filtered out at the default info level");
    });
    drop(guard);
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: Value = serde_json::from_str(lines[0]).expect("JSON");
    assert!(v.get("dd.trace_id").is_none());
    assert_eq!(v["pipeline_id"], "7");
    assert_eq!(v["message_count"], 2);
    assert_eq!(v["ratio"], 0.5);
    assert_eq!(v["ok"], true);
    assert!(v.get("dd.env").is_none());
}

#[test]
fn statuses_are_standard_and_a_failure_is_an_error_at_any_level() {
    let logs = Captured::default();
    let (layer, guard) = OtelBuilder::new("pt-status")
        .with_traces(TracesExport::Off)
        .with_log_format(LogFormat::Json)
        .with_log_filter("trace")
        .with_log_writer(logs.clone())
        .build_layer::<Registry>()
        .expect("build layers");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        tracing::error!("e");
        tracing::warn!("w");
        tracing::info!("i");
        tracing::debug!("d");
        tracing::trace!("t");
        tracing::warn!(outcome = "failed", "failed, logged as a warning");
    });
    drop(guard);
    let statuses: Vec<(String, String, String)> = logs
        .text()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (s("message"), s("status"), s("service"))
        })
        .collect();
    let expected = [
        ("e", "error"),
        ("w", "warn"),
        ("i", "info"),
        ("d", "debug"),
        ("t", "trace"),
        ("failed, logged as a warning", "error"),
    ];
    assert_eq!(statuses.len(), expected.len(), "{statuses:?}");
    for ((message, status, service), (want_message, want_status)) in statuses.iter().zip(expected) {
        assert_eq!(
            (message.as_str(), status.as_str()),
            (want_message, want_status)
        );
        // Never a status Datadog would read as emergency (anything starting with f).
        assert!(!status.starts_with('f'));
        assert_eq!(service, "pt-status");
    }
}
