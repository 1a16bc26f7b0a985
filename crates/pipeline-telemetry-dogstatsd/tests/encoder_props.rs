//! Property tests of the wire encoder (no I/O): for any name, tags and
//! values, every datagram fits the payload limit, parses back, and holds
//! exactly the sanitised intended metric — nothing more, nothing less.

use pipeline_telemetry_dogstatsd::encoder::{push_value, Encoder, MetricType, Suffix};
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

/// How many f64 values apart `a` and `b` (of one sign) are.
fn ulps(a: f64, b: f64) -> u64 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
}

/// Whether `v`'s shortest decimal has at most nine fractional digits.
fn whole_nanoseconds(v: f64) -> bool {
    let s = format!("{v}");
    s.split_once('.').is_none_or(|(_, frac)| frac.len() <= 9)
}

/// `n` nanoseconds as seconds, written from the integer alone: the
/// shortest decimal at nanosecond resolution.
fn nanos_decimal(n: u64) -> String {
    let s = format!("{}.{:09}", n / 1_000_000_000, n % 1_000_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn written(v: f64) -> String {
    let mut out = Vec::new();
    assert!(push_value(&mut out, v));
    String::from_utf8(out).expect("utf-8")
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
            // Every finite value arrives once, in order (-0 prints as 0),
            // exactly or as the whole nanoseconds one ulp away.
            prop_assert_eq!(got.len(), finite.len());
            for (g, v) in got.iter().zip(&finite) {
                let v = if *v == 0.0 { 0.0 } else { *v };
                prop_assert!(
                    *g == v || (ulps(*g, v) == 1 && whole_nanoseconds(*g)),
                    "{} sent for {}", g, v
                );
            }
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

    /// A duration of `n` nanoseconds (under 10^6 s), in seconds as the
    /// stage timer (`n * 1e-9`), `Duration::as_secs_f64` and a division
    /// compute it, is written as its nanoseconds in decimal, or shorter
    /// where a shorter decimal reads back as the same f64.
    #[test]
    fn durations_are_written_as_their_nanoseconds(
        n in prop_oneof![0u64..1_000_000_000_000_000, 0u64..10_000_000_000, 0u64..10_000_000],
    ) {
        let want = nanos_decimal(n);
        let want_f64: f64 = want.parse().expect("a decimal");
        for v in [
            n as f64 * 1e-9,
            std::time::Duration::from_nanos(n).as_secs_f64(),
            n as f64 / 1e9,
        ] {
            let got = written(v);
            let back: f64 = got.parse().expect("a float");
            prop_assert_eq!(back, want_f64, "{} written as {} for {} ns", v, got, n);
            prop_assert!(got.len() <= want.len(), "{} written as {} ({} ns)", v, got, n);
        }
    }
}

/// Bytes per duration sample, before (the shortest decimal of the f64,
/// as the encoder wrote every value) and after (nanosecond resolution):
/// `cargo test --release -p pipeline-telemetry-dogstatsd --test encoder_props
/// -- --nocapture bytes_per_duration_sample`; it fails if the figures in
/// docs/benchmarks.md no longer hold.
#[test]
fn bytes_per_duration_sample() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for (label, lo, hi) in [("1 µs to 10 s", 1e3f64, 1e10f64), ("1 ms to 1 s", 1e6, 1e9)] {
        let (mut before, mut after, count) = (0usize, 0usize, 100_000usize);
        for _ in 0..count {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            // Log-uniform nanoseconds, in seconds as the stage timer computes them.
            let nanos = (lo.ln() + u * (hi.ln() - lo.ln())).exp() as u64;
            let v = nanos as f64 * 1e-9;
            before += if v.fract() == 0.0 {
                format!("{}", v as i64).len()
            } else {
                ryu::Buffer::new().format_finite(v).len()
            };
            after += written(v).len();
        }
        let (before, after) = (before as f64 / count as f64, after as f64 / count as f64);
        println!("{label}: {before:.2} bytes per sample before, {after:.2} after");
        // The figures in docs/benchmarks.md (a fixed seed: the same every run).
        assert!(
            after <= 11.0 && after < before - 3.0,
            "{label}: {after:.2} bytes per sample written (was {before:.2})"
        );
    }
}
