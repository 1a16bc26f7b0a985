//! A heavy series is thinned at the source, and its thread's other series
//! are not: over a real UDP socket, read with a port of the Agent's parser
//! and sketch, a heavy series recorded 200,000 times per flush (after its
//! first flush, its source level is 8: about 780 of its samples reach the
//! buffer) and a light one recorded 50 times per flush, interleaved on one
//! thread from the second flush on, with at most
//! 64 values sent per series and flush. The Agent counts every sample of
//! both, and the light series arrives whole: each of its values once, with
//! weight 1. Had the heavy series' level been the thread's (as the buffer's
//! own thinning is), the light series would be thinned with it.

mod agent_parser;

use std::time::Duration;

use agent_parser::metric::agent_sketches;
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::UdpReceiver;

const MAX: usize = 64;
const HEAVY: u64 = 200_000;
const LIGHT_EVERY: u64 = 4_000;
const ROUNDS: u64 = 5;

#[test]
fn a_series_thinned_at_the_source_leaves_its_threads_other_series_whole() {
    let rx = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(rx.addr()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .with_max_samples_per_series(MAX)
        .start()
        .expect("start");
    let heavy = DistributionHandle::register("src.heavy", &[]);
    let light = DistributionHandle::register("src.light", &[]);
    let mut levels = Vec::new();
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            rx.lines_until(Duration::from_secs(120), |l| {
                l.iter().any(|l| l.starts_with("src.sentinel:"))
            })
        });
        // A first interval of the heavy series alone sets its level (its
        // buffer may thin that interval for all, should the flusher lag).
        (0..HEAVY).for_each(|i| heavy.record((i % 1000) as f64));
        guard.flush();
        for round in 0..ROUNDS {
            levels.push((heavy.series().source_level(), light.series().source_level()));
            for i in 0..HEAVY {
                heavy.record((i % 1000) as f64);
                if i % LIGHT_EVERY == 0 {
                    light.record((round * 1000 + i / LIGHT_EVERY) as f64);
                }
            }
            guard.flush();
        }
        CounterHandle::register("src.sentinel", &[]).increment(1);
        guard.flush();
        reader.join().expect("reader")
    });

    // 200,000 / (8 × 64) = 390: level 8 after every flush.
    assert!(levels.iter().all(|&(h, l)| h == 8 && l == 0), "{levels:?}");
    let sketch = |name: &str| {
        agent_sketches(&lines, &format!("{name}:"))[&format!("{name}|#")]
            .0
            .clone()
    };
    let (heavy, light) = (sketch("src.heavy"), sketch("src.light"));
    assert_eq!(heavy.cnt, ((ROUNDS + 1) * HEAVY) as i64);
    let per_round = HEAVY / LIGHT_EVERY;
    let mut values: Vec<(f64, u64)> = light.inserted.clone();
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let expected: Vec<(f64, u64)> = (0..ROUNDS)
        .flat_map(|r| (0..per_round).map(move |i| ((r * 1000 + i) as f64, 1)))
        .collect();
    assert_eq!(values, expected, "the light series, value by value");
    assert_eq!(guard.stats().samples_dropped, 0);
}
