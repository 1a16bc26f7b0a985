//! Property tests: no `run_results.json` content makes the reader panic,
//! and what it reports stays within its bounds.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{parse_results, parse_utc, record};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Timestamps as dbt writes them, with any numbers in every field, and
/// any text.
fn any_timestamp() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            any::<i64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            "[0-9]{0,20}",
            prop_oneof![Just("Z"), Just("+00:00"), Just("")],
        )
            .prop_map(|(y, mo, d, h, mi, s, frac, z)| {
                format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac}{z}")
            }),
        // Valid fields, any year (an absurd one overflowed the arithmetic).
        (
            any::<i64>(),
            1_u32..13,
            1_u32..29,
            0_u64..24,
            0_u64..60,
            0_u64..60
        )
            .prop_map(|(y, mo, d, h, mi, s)| format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")),
        (
            1900_i64..2400,
            0_u32..14,
            0_u32..33,
            0_u64..25,
            0_u64..61,
            0_u64..62
        )
            .prop_map(|(y, mo, d, h, mi, s)| format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")),
        ".{0,40}",
    ]
}

/// One node of the results: the fields dbt writes, each either of the
/// right shape with any content, or any JSON at all.
fn any_node() -> impl Strategy<Value = Value> {
    let timing = (any_timestamp(), any_timestamp())
        .prop_map(|(s, c)| json!({"name": "execute", "started_at": s, "completed_at": c}));
    (
        prop_oneof![
            4 => "(model|test|seed|snapshot|x)\\.[a-z.]{0,20}".prop_map(Value::from),
            1 => any_json()
        ],
        prop_oneof![
            4 => prop_oneof![
                Just("success"),
                Just("error"),
                Just("fail"),
                Just("pass"),
                Just("skipped")
            ]
            .prop_map(Value::from),
            1 => any_json()
        ],
        prop_oneof![
            4 => prop::collection::vec(timing, 0..3).prop_map(Value::Array),
            1 => any_json()
        ],
        prop_oneof![
            any::<i64>().prop_map(|n| json!({"rows_affected": n})),
            (i64::MAX / 2..=i64::MAX).prop_map(|n| json!({"rows_affected": n})),
            any::<u64>().prop_map(|n| json!({"rows_affected": n})),
            any_json()
        ],
        prop_oneof![".{0,40}".prop_map(Value::from), any_json()],
    )
        .prop_map(|(id, status, timing, adapter, message)| {
            json!({
                "unique_id": id,
                "status": status,
                "timing": timing,
                "adapter_response": adapter,
                "message": message,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any timestamp text: a time within the years dbt can write, or none.
    #[test]
    fn timestamps_never_panic(ts in any_timestamp()) {
        if let Some(t) = parse_utc(&ts) {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(u64::MAX);
            prop_assert!(secs < 9_223_372_036, "{ts}: {secs}");
        }
    }

    /// Results of the right shape with any content: read, summed without
    /// overflow, recorded without panic.
    #[test]
    fn results_never_panic(nodes in prop::collection::vec(any_node(), 0..8)) {
        let text = json!({"metadata": {}, "results": nodes}).to_string();
        if let Ok(report) = parse_results(&text) {
            let sum = report
                .nodes
                .iter()
                .filter(|n| !n.failed())
                .filter(|n| ["model", "seed", "snapshot"].contains(&n.resource_type.as_str()))
                .fold(0_u64, |s, n| s.saturating_add(n.rows_affected.unwrap_or(0)));
            prop_assert_eq!(report.rows_affected, sum);
            record(&report, &tracing::Span::none());
        }
    }

    /// Any JSON document, and any bytes as text: an error or a report.
    #[test]
    fn any_document_never_panics(doc in any_json(), text in ".{0,200}") {
        let _ = parse_results(&doc.to_string());
        let _ = parse_results(&json!({"results": doc}).to_string());
        let _ = parse_results(&text);
    }
}
