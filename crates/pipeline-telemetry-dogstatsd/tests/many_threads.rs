//! Far more live threads than the built-in shards (64): every sample and
//! every increment they record arrives on a real UDP socket, exactly, in
//! two rounds (the second reuses the shards the first round's threads
//! gave back when they exited).

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::time::Duration;

use pipeline_telemetry_dogstatsd::parse::parse_line;
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::UdpReceiver;

const THREADS: usize = 200;
const PER_THREAD: usize = 8;

/// Starts `THREADS` threads that each record `PER_THREAD` samples (their
/// index) and increments, and keeps them all alive until every one has
/// recorded, so that they hold `THREADS` shards at once.
fn round(counter: CounterHandle, dist: DistributionHandle) {
    let all_recorded = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let all_recorded = &all_recorded;
            s.spawn(move || {
                for _ in 0..PER_THREAD {
                    counter.increment(1);
                    dist.record(i as f64);
                }
                all_recorded.wait();
            });
        }
    });
}

#[test]
fn hundreds_of_live_threads_lose_nothing() {
    let rx = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(rx.addr()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_millis(50))
        .start()
        .expect("start");
    let counter = CounterHandle::register("threads.calls", &[]);
    let dist = DistributionHandle::register("threads.value", &[]);
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            rx.lines_until(Duration::from_secs(60), |l| {
                l.iter().any(|l| l.starts_with("threads.sentinel:"))
            })
        });
        round(counter, dist);
        round(counter, dist);
        guard.flush();
        CounterHandle::register("threads.sentinel", &[]).increment(1);
        guard.flush();
        reader.join().expect("reader")
    });
    let stats = guard.stats();
    drop(guard);

    let mut calls = 0.0;
    let mut values: BTreeMap<u64, f64> = BTreeMap::new();
    for l in &lines {
        let m = parse_line(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let weight = 1.0 / m.sample_rate.unwrap_or(1.0);
        match m.name.as_str() {
            "threads.calls" => calls += m.values.iter().sum::<f64>() * weight,
            "threads.value" => {
                for v in &m.values {
                    *values.entry(*v as u64).or_default() += weight;
                }
            }
            _ => {}
        }
    }
    let rounds = 2.0;
    assert_eq!(calls, rounds * (THREADS * PER_THREAD) as f64, "{stats:?}");
    assert_eq!(
        values.len(),
        THREADS,
        "a thread's samples are missing: {stats:?}"
    );
    for (v, n) in values {
        assert_eq!(
            n,
            rounds * PER_THREAD as f64,
            "samples of thread {v}; {stats:?}"
        );
    }
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");
    assert_eq!(stats.samples_sampled_out, 0, "{stats:?}");
}
