//! Hostile and malformed headers never panic, never produce a parent, and
//! never let a bad `pipeline_id` into spans or log lines. Needs no agent.

mod common;

use std::collections::BTreeMap;

use common::Captured;
use pipeline_telemetry_otel::{extract, LogFormat, OtelBuilder, TracesExport};
use proptest::prelude::*;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_btree_map_extracts_without_panic(
        tp in ".{0,80}", ts in ".{0,200}", baggage in ".{0,300}",
    ) {
        let mut m = BTreeMap::new();
        m.insert("traceparent".to_owned(), tp);
        m.insert("tracestate".to_owned(), ts);
        m.insert("baggage".to_owned(), baggage);
        let remote = extract(&m);
        if let Some(id) = &remote.pipeline_id {
            prop_assert!(pipeline_telemetry_otel::sanitize_pipeline_id(id).is_some());
        }
    }

    #[test]
    fn any_header_bytes_extract_without_panic(
        tp in proptest::collection::vec(any::<u8>(), 0..80),
        baggage in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut h = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_bytes(&tp) {
            h.insert("traceparent", v);
        }
        if let Ok(v) = http::HeaderValue::from_bytes(&baggage) {
            h.append("baggage", v);
        }
        let _ = extract(&h);
    }

    #[test]
    fn mutated_traceparent_is_valid_only_if_well_formed(i in 0usize..55, c in any::<char>()) {
        let mut tp: Vec<char> = TP.chars().collect();
        tp[i] = c;
        let tp: String = tp.into_iter().collect();
        let mut m = BTreeMap::new();
        m.insert("traceparent".to_owned(), tp.clone());
        let remote = extract(&m);
        if remote.is_valid() {
            let well_formed = tp.len() == 55
                && tp.split('-').map(str::len).eq([2usize, 32, 16, 2])
                && tp.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c));
            prop_assert!(well_formed, "accepted {tp:?}");
        }
    }
}

#[test]
fn hostile_context_starts_a_fresh_trace_and_logs_stay_one_line() {
    let logs = Captured::default();
    let (layer, guard) = OtelBuilder::new("pt-hostile")
        .with_traces(TracesExport::Console)
        .with_console_writer(std::io::sink)
        .with_log_format(LogFormat::Json)
        .with_log_writer(logs.clone())
        .build_layer::<Registry>()
        .expect("build");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-00000000000000000000000000000000-0000000000000000-01"
            .parse()
            .expect("ascii"),
    );
    headers.insert(
        "tracestate",
        "\u{7f}\u{7f}"
            .parse()
            .unwrap_or(http::HeaderValue::from_static("x")),
    );
    headers.insert(
        "baggage",
        "pipeline_id=42%0A%7B%22dd.trace_id%22%3A%221%22%7D,other=%22quoted%22"
            .parse()
            .expect("ascii"),
    );
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        let remote = extract(&headers);
        assert!(!remote.is_valid());
        assert_eq!(remote.pipeline_id, None);
        let span = tracing::info_span!("consume", stage = "in\"put\nx");
        let _ = remote.set_parent(&span);
        let _e = span.enter();
        tracing::warn!(
            note = "a \"quoted\"\r\nvalue",
            "message with\nnewline and \"quotes\""
        );
    });
    drop(guard);
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("valid JSON");
    assert_eq!(v["message"], "message with\nnewline and \"quotes\"");
    assert_eq!(v["note"], "a \"quoted\"\r\nvalue");
    assert_eq!(v["stage"], "in\"put\nx");
    assert!(v.get("pipeline_id").is_none(), "{v}");
    assert!(
        v["dd.trace_id"]
            .as_str()
            .is_some_and(|t| t != "1" && t != "0"),
        "{v}"
    );
}
