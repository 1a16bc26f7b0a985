//! Far more series than the limit (in a process of their own): new series
//! are folded into overflow series whose tag values are `other`, their data
//! arrives on a real socket, the folds are counted in the client telemetry,
//! and series registered before the limit keep working. Past the overflow
//! slots too, what is left lands in the per-type catch-all.

use std::time::Duration;

use pipeline_telemetry_dogstatsd::parse::{parse_line, ParsedMetric};
use pipeline_telemetry_dogstatsd::{
    CounterHandle, DogStatsDBuilder, Target, CATCH_ALL_NAME, MAX_SERIES, OVERFLOW_SERIES,
};
use pipeline_telemetry_test_support::UnixDatagramReceiver;

/// Runs `work` (which ends by flushing a sentinel) and returns every line
/// received up to the client telemetry that follows the sentinel in the
/// same flush (the receiver reads while the exporter sends).
fn collect(rx: &UnixDatagramReceiver, work: impl FnOnce() + Send) -> Vec<ParsedMetric> {
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            rx.lines_until(Duration::from_secs(60), |l| {
                l.iter()
                    .position(|l| l.starts_with("overflow.sentinel:"))
                    .is_some_and(|at| {
                        l[at..]
                            .iter()
                            .any(|l| l.starts_with("datadog.dogstatsd.client.series_folded:"))
                    })
            })
        });
        work();
        reader.join().expect("reader")
    });
    lines
        .iter()
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn sum(m: &[ParsedMetric], pred: impl Fn(&ParsedMetric) -> bool) -> f64 {
    m.iter()
        .filter(|p| pred(p))
        .flat_map(|p| p.values.iter())
        .sum()
}

#[test]
fn series_past_the_limit_fold_into_other_on_the_wire() {
    const EXTRA: usize = 5_000;
    let rx = UnixDatagramReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::parse_url(&rx.url(), "test").expect("url"))
        .with_origin_detection(false)
        .with_flush_interval(Duration::from_secs(3600))
        .with_telemetry_interval(Duration::from_millis(1))
        .start()
        .expect("start");

    let first = CounterHandle::register("overflow.records", &[("pipeline", "p"), ("stage", "s0")]);
    let mut i = 1;
    while guard.stats().series < MAX_SERIES as u64 {
        let stage = format!("s{i}");
        CounterHandle::register("overflow.records", &[("pipeline", "p"), ("stage", &stage)]);
        i += 1;
    }
    let folded_before = guard.stats().series_folded;

    // Data-derived stage names past the limit: each is counted once.
    let m = collect(&rx, || {
        for j in 0..EXTRA {
            let stage = format!("late-{j}");
            CounterHandle::register("overflow.records", &[("pipeline", "p"), ("stage", &stage)])
                .increment(1);
        }
        first.increment(7);
        CounterHandle::register("overflow.sentinel", &[]).increment(1);
        guard.flush();
    });
    let other = |p: &ParsedMetric| {
        p.name == "overflow.records"
            && p.tag("stage") == Some("other")
            && p.tag("pipeline") == Some("other")
    };
    assert_eq!(
        sum(&m, other),
        EXTRA as f64,
        "the overflow series carries every increment"
    );
    assert_eq!(
        sum(&m, |p| p.name == "overflow.records"
            && p.tag("stage") == Some("s0")),
        7.0,
        "a series registered before the limit keeps working"
    );
    assert_eq!(
        sum(&m, |p| p.name == "overflow.records"
            && !other(p)
            && p.tag("stage") != Some("s0")),
        0.0
    );
    // The sentinel, registered past the limit too, is folded as well (it
    // has no tag to fold, so it keeps its line).
    let folds = EXTRA as u64 + 1;
    assert_eq!(guard.stats().series_folded - folded_before, folds);
    let telemetry = sum(&m, |p| p.name == "datadog.dogstatsd.client.series_folded");
    assert_eq!(
        telemetry,
        (folded_before + folds) as f64,
        "counted in the client telemetry"
    );

    // Past the overflow slots: distinct names fold into the catch-all.
    let names = OVERFLOW_SERIES + 100;
    let m = collect(&rx, || {
        for j in 0..names {
            let name = format!("overflow.name{j}");
            CounterHandle::register(&name, &[("k", "v")]).increment(1);
        }
        CounterHandle::register("overflow.sentinel", &[]).increment(1);
        guard.flush();
    });
    let catch_all = format!("{CATCH_ALL_NAME}.count");
    let per_name = sum(&m, |p| {
        p.name.starts_with("overflow.name") && p.tag("k") == Some("other")
    });
    let caught = sum(&m, |p| p.name == catch_all);
    assert!(caught >= 100.0, "catch-all got {caught}");
    assert_eq!(
        per_name + caught,
        names as f64,
        "every increment arrives once"
    );
    drop(guard);
}
