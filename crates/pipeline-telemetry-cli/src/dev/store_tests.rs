use proptest::prelude::*;

use super::*;

const NOW: u64 = 1_700_000_005;

fn store() -> Store {
    Store::new(Limits::new(60))
}

fn count_of(points: &[Point], name: &str) -> f64 {
    points
        .iter()
        .filter(|p| p.name == name && p.kind == PointKind::Count)
        .flat_map(|p| p.values.iter())
        .sum()
}

#[test]
fn buckets_counts_gauges_and_samples_by_flush_interval() {
    let mut s = store();
    s.ingest(
        b"a:1|c|#x:1\na:2|c|@0.5|#x:1\ng:3|g\ng:7|g\nd:1:2|d|@0.25\n",
        NOW,
    );
    s.ingest(b"a:1|c|#x:1", NOW + 10);
    let (points, first) = s.all_points();
    assert_eq!(first, Some(1_700_000_000));
    // 1 + 2 / 0.5 in the first interval, 1 in the next.
    let mut counts: Vec<(u64, f64)> = points
        .iter()
        .filter(|p| p.name == "a")
        .map(|p| (p.timestamp, p.values[0]))
        .collect();
    counts.sort_by_key(|c| c.0);
    assert_eq!(counts, [(1_700_000_000, 5.0), (1_700_000_010, 1.0)]);
    let gauge: Vec<f64> = points
        .iter()
        .filter(|p| p.name == "g")
        .map(|p| p.values[0])
        .collect();
    assert_eq!(gauge, [7.0]);
    let dist: Vec<&Point> = points.iter().filter(|p| p.name == "d").collect();
    assert_eq!(dist.len(), 1);
    assert_eq!(dist[0].values, [1.0, 2.0]);
    assert_eq!(dist[0].sample_rate, 0.25);
    assert_eq!(s.sample_count(), 2);
}

#[test]
fn forgets_what_leaves_the_window_and_caps_series_and_samples() {
    let mut limits = Limits::new(1);
    limits.max_series = 2;
    limits.max_samples = 3;
    let mut s = Store::new(limits);
    s.ingest(b"a:1|c\nb:1|c\nc:1|c\nd:1:2:3:4|d", NOW);
    assert_eq!(
        s.series_count(),
        2,
        "the third and fourth series are refused"
    );
    assert_eq!(s.stats().dropped_series, 2);
    let mut s = Store::new(limits);
    s.ingest(b"d:1:2:3:4|d", NOW);
    assert_eq!((s.sample_count(), s.stats().dropped_samples), (3, 1));
    s.ingest(b"", NOW + 70);
    assert_eq!((s.series_count(), s.sample_count()), (0, 0));
    assert_eq!(count_of(&s.all_points().0, "a"), 0.0);
}

#[test]
fn rejects_garbage_and_stale_timestamps_without_losing_the_rest() {
    let mut s = store();
    let stale = format!("old:1|c|T{}\n", NOW - 3_700);
    s.ingest(stale.as_bytes(), NOW);
    s.ingest(
        b"no colon\n:1|c\na:x|c\na:1|q\n\xff\xfe:1|c\nok:1|c\n_sc|x|0\nh:1|h",
        NOW,
    );
    let stats = s.stats();
    assert_eq!(stats.lines, 9);
    assert_eq!(stats.rejected_lines, 6, "{stats:?}");
    assert_eq!(stats.histogram_lines, 1);
    let points = s.all_points().0;
    assert_eq!(count_of(&points, "ok"), 1.0);
    // The lossy UTF-8 reading keeps a line with invalid bytes in its name.
    assert_eq!(points.len(), 2, "{points:?}");
}

fn datagram() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"pipeline.errors:1|c|#stage:spark".to_vec()),
        Just(b"d:1:2|d|@0.001|#a:b".to_vec()),
        Just(b"s:1|s".to_vec()),
        Just(b"|@0|#,,:|T99999999999999999999".to_vec()),
        Just(b":\n|\n#".to_vec()),
        prop::collection::vec(any::<u8>(), 0..64),
        "[a-z.]{1,8}:[-0-9.eE]{1,8}\\|(c|g|d|s|h|ms|q)(\\|@[-0-9.eE]{1,6})?(\\|#[^|\n]{0,40})?(\\|T[0-9]{1,12})?"
            .prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.join(&b'\n'))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Any bytes: no panic, every line accounted for, the caps hold.
    #[test]
    fn any_datagram_is_read_within_bounds(datagrams in prop::collection::vec(datagram(), 1..6)) {
        let mut limits = Limits::new(1);
        limits.max_series = 5;
        limits.max_samples = 7;
        let mut s = Store::new(limits);
        for (i, d) in datagrams.iter().enumerate() {
            s.ingest(d, NOW + 20 * i as u64);
            prop_assert!(s.series_count() <= 5);
            prop_assert!(s.sample_count() <= 7);
        }
        let (points, _) = s.all_points();
        for p in &points {
            prop_assert!(p.values.iter().all(|v| v.is_finite()));
            prop_assert!(p.sample_rate > 0.0 && p.sample_rate <= 1.0);
        }
        let st = s.stats();
        prop_assert_eq!(st.datagrams, datagrams.len() as u64);
        prop_assert!(st.rejected_lines + st.histogram_lines <= st.lines);
    }
}

/// `count` series of a set, each with `values` distinct values in each of
/// `buckets` flush intervals (sent with timestamps, as `|T` allows).
fn fill_sets(s: &mut Store, name: &str, count: usize, buckets: u64, values: usize) {
    for series in 0..count {
        for b in 0..buckets {
            let lines: Vec<String> = (0..values)
                .map(|v| format!("{name}:{v}|s|#user:{series}|T{}", NOW - 10 * b))
                .collect();
            for chunk in lines.chunks(200) {
                s.ingest(chunk.join("\n").as_bytes(), NOW);
            }
        }
    }
}

#[test]
fn set_values_count_against_the_sample_cap() {
    let mut limits = Limits::new(10);
    limits.max_samples = 5_000;
    let mut s = Store::new(limits);
    fill_sets(&mut s, "visitors", 10, 5, 200);
    // 10 000 distinct values sent, 5 000 kept.
    assert_eq!(s.sample_count(), 5_000);
    assert_eq!(s.stats().dropped_samples, 5_000);
    let kept: usize = s.all_points().0.iter().map(|p| p.values.len()).sum();
    assert_eq!(kept, 5_000);
    // Leaving the window frees them.
    s.evict(NOW + 3_600);
    assert_eq!(s.sample_count(), 0);
}

#[test]
fn a_request_copies_only_the_metrics_it_evaluates_within_the_caps() {
    let mut s = Store::new(Limits::new(10));
    // A flood of a metric no widget queries: 40 series x 55 intervals x 100
    // distinct values (220 000 values).
    fill_sets(&mut s, "hostile.set", 40, 55, 100);
    s.ingest(b"pipeline.records:5|c|#stage:load\nvisitors:1:2:3|s", NOW);
    let wanted: HashSet<String> = ["pipeline.records".to_owned(), "visitors".to_owned()].into();
    let (points, first) = s.points(&wanted);
    // The work of a request: what it copies out of the store.
    let copied: usize = points.iter().map(|p| p.values.len()).sum();
    assert_eq!(points.len(), 2, "{points:?}");
    assert_eq!(copied, 4, "one count and three set values");
    assert_eq!(
        first,
        Some(1_700_000_000 - 540),
        "the oldest interval of any metric"
    );
    // Even every metric's values are bounded by the caps: a point per
    // series and interval, values up to `max_samples`.
    let limits = s.limits();
    let (all, _) = s.all_points();
    let values: usize = all.iter().map(|p| p.values.len()).sum();
    assert!(all.len() <= limits.max_series * 60, "{}", all.len());
    assert!(values <= limits.max_samples + all.len(), "{values}");
    // One point per set series and interval, not one per value.
    assert_eq!(all.len(), 40 * 55 + 2);
}
