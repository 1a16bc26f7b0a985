//! Property tests of the wire encoder (no I/O): for any name, tags and
//! values, every datagram fits the payload limit, parses back, and holds
//! exactly the sanitised intended metric — nothing more, nothing less.

use pipeline_telemetry_dogstatsd::encoder::{Encoder, MetricType, Suffix};
use pipeline_telemetry_dogstatsd::parse::parse_datagram;
use pipeline_telemetry_dogstatsd::sanitize;
use proptest::prelude::*;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[a-z|#,:@\n\r ]{0,20}",
        "(a|#x:1\nevil:1\\|c){1,3}",
        proptest::collection::vec(any::<char>(), 0..300).prop_map(|c| c.into_iter().collect()),
    ]
}

fn any_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        -1e6..1e6f64,
        (0i64..1_000_000).prop_map(|i| i as f64),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
    ]
}

fn kind() -> impl Strategy<Value = MetricType> {
    prop_oneof![
        Just(MetricType::Count),
        Just(MetricType::Gauge),
        Just(MetricType::Distribution),
        Just(MetricType::Histogram),
        Just(MetricType::Timing),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn output_parses_back_to_the_sanitised_metric(
        name in any_text(),
        tags in proptest::collection::vec((any_text(), any_text()), 0..6),
        values in proptest::collection::vec(any_value(), 1..200),
        kind in kind(),
        rate in prop_oneof![Just(None), (0.01f64..1.0).prop_map(Some)],
        timestamp in prop_oneof![Just(None), (1u64..4_000_000_000).prop_map(Some)],
        max in 64usize..2000,
    ) {
        let clean_name = sanitize::name(&name);
        let mut tag_str = String::new();
        sanitize::push_tags(&mut tag_str, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let expected_tags: Vec<String> = tags
            .iter()
            .filter(|(k, v)| !(k.is_empty() && v.is_empty()))
            .map(|(k, v)| {
                let mut t = String::new();
                sanitize::push_tag(&mut t, k, v);
                t
            })
            .filter(|t| !t.is_empty())
            .collect();
        let suffix = Suffix::new(kind, rate, &tag_str, timestamp, "");
        let mut enc = Encoder::new(max);
        let mut datagrams: Vec<Vec<u8>> = Vec::new();
        enc.encode(&clean_name, &values, &suffix, &mut |d| datagrams.push(d.to_vec()));
        enc.finish(&mut |d| datagrams.push(d.to_vec()));
        let skipped = enc.take_skipped();

        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        prop_assert_eq!(skipped.non_finite as usize, values.len() - finite.len());
        let mut got = Vec::new();
        for d in &datagrams {
            prop_assert!(d.len() <= max.max(64), "datagram of {} > {}", d.len(), max);
            let text = std::str::from_utf8(d).expect("utf-8");
            for m in parse_datagram(text).map_err(|e| TestCaseError::fail(e.to_string()))? {
                prop_assert_eq!(&m.name, &clean_name);
                prop_assert_eq!(m.kind, kind);
                prop_assert_eq!(&m.tags, &expected_tags);
                prop_assert_eq!(m.timestamp, timestamp);
                prop_assert_eq!(m.sample_rate, rate.filter(|r| *r < 1.0));
                got.extend(m.values);
            }
        }
        if skipped.too_long == 0 {
            // Every finite value arrives once, in order, exactly (-0 prints as 0).
            let want: Vec<f64> = finite.iter().map(|v| if *v == 0.0 { 0.0 } else { *v }).collect();
            prop_assert_eq!(got, want);
        } else {
            prop_assert_eq!(got.len() + skipped.too_long as usize, finite.len());
        }
    }

    #[test]
    fn sanitised_parts_never_contain_separators(raw in any_text()) {
        let n = sanitize::name(&raw);
        prop_assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'));
        prop_assert!(n.chars().count() <= sanitize::MAX_NAME_LEN);
        let mut t = String::new();
        sanitize::push_tag(&mut t, &raw, &raw);
        prop_assert!(!t.contains(['|', '#', ',', '\n', '\r', '@', ' ']));
        prop_assert!(t.chars().count() <= sanitize::MAX_TAG_LEN);
    }
}
