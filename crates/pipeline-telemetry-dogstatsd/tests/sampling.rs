//! Far more samples than a flush sends, from unpaced writers on several
//! threads: what arrives on a real UDP socket, each sample weighted by
//! 1/rate as the Agent does, counts exactly what was recorded, and its
//! p50/p95 match the recorded distribution's.

use std::time::Duration;

use pipeline_telemetry_dogstatsd::parse::parse_line;
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::UdpReceiver;

const THREADS: u64 = 4;
const PER_THREAD: u64 = 1_000_000;
const MAX: usize = 5_000;

/// An exponential distribution in whole milliseconds (mean 1000), from a
/// per-thread generator: compact on the wire, skewed like durations.
fn samples(seed: u64) -> impl Iterator<Item = u32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..PER_THREAD).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        (-u.ln() * 1000.0) as u32
    })
}

fn quantile(sorted: &[(f64, f64)], total: f64, q: f64) -> f64 {
    let mut acc = 0.0;
    for &(v, w) in sorted {
        acc += w;
        if acc >= q * total {
            return v;
        }
    }
    sorted.last().map_or(f64::NAN, |s| s.0)
}

#[test]
fn rate_scaled_count_and_percentiles_match_what_was_recorded() {
    let rx = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(rx.addr()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_millis(20))
        .with_max_samples_per_series(MAX)
        .start()
        .expect("start");
    let (lines, mut recorded) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            rx.lines_until(Duration::from_secs(60), |l| {
                l.iter().any(|l| l.starts_with("sampling.sentinel:"))
            })
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|t| {
                s.spawn(move || {
                    let d = DistributionHandle::register("sampling.duration", &[("k", "v")]);
                    let mut mine = Vec::with_capacity(PER_THREAD as usize);
                    for v in samples(t + 1) {
                        d.record(f64::from(v));
                        mine.push(v);
                    }
                    mine
                })
            })
            .collect();
        let recorded: Vec<u32> = writers
            .into_iter()
            .flat_map(|w| w.join().expect("writer"))
            .collect();
        guard.flush();
        CounterHandle::register("sampling.sentinel", &[]).increment(1);
        guard.flush();
        (reader.join().expect("reader"), recorded)
    });
    let stats = guard.stats();
    drop(guard);

    let mut weighted = Vec::new();
    let mut rated_lines = 0;
    for l in lines.iter().filter(|l| l.starts_with("sampling.duration:")) {
        let m = parse_line(l).unwrap_or_else(|e| panic!("{e}"));
        let rate = m.sample_rate.unwrap_or(1.0);
        assert!(rate > 0.0 && rate <= 1.0, "{l}");
        if rate < 1.0 {
            rated_lines += 1;
        }
        weighted.extend(m.values.iter().map(|&v| (v, 1.0 / rate)));
    }
    let n = (THREADS * PER_THREAD) as f64;
    assert!(rated_lines > 0, "nothing was sampled: {stats:?}");
    assert!(
        weighted.len() < (THREADS * PER_THREAD) as usize / 10,
        "far fewer samples are sent than recorded: {}",
        weighted.len()
    );
    let count: f64 = weighted.iter().map(|(_, w)| w).sum();
    // Each sent sample stands for exactly seen/kept of its interval.
    assert!(
        (count - n).abs() / n < 1e-6,
        "rate-scaled count {count} != recorded {n}; {stats:?}"
    );
    assert_eq!(stats.samples_dropped, 0, "{stats:?}");
    assert!(stats.samples_sampled_out > 0, "{stats:?}");

    weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
    recorded.sort_unstable();
    for q in [0.5, 0.95] {
        let want = f64::from(recorded[((n * q) as usize).min(recorded.len() - 1)]);
        let got = quantile(&weighted, count, q);
        assert!(
            (got - want).abs() / want < 0.05,
            "p{}: sent {got}, recorded {want} ({} samples sent)",
            q * 100.0,
            weighted.len()
        );
    }
}
