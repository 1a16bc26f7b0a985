//! A series whose every sample of an interval was left out by a thinning
//! buffer still reaches the Agent with its count. The exporter starts
//! only after the recording, so nothing drains this thread's ring while it
//! fills: past 7/8 it thins, and after 4 million offers its level is past
//! 16, so a one-off series recorded then has each sample kept with
//! probability 2^-16 or less. The Agent (a port of its parser and sketch,
//! over a real UDP socket) must count every sample of every series; before
//! left-out values were kept, the one-off series sent nothing, and their
//! counts waited for a sample that never came.

mod agent_parser;

use std::time::Duration;

use agent_parser::metric::agent_sketches;
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::UdpReceiver;

const HEAVY: u64 = 1 << 22;
const ONE_OFFS: usize = 20;
const EACH: u64 = 3;

#[test]
fn a_series_with_every_sample_left_out_sends_its_count() {
    let heavy = DistributionHandle::register("left.heavy", &[]);
    (0..HEAVY).for_each(|i| heavy.record((i % 1000) as f64));
    for s in 0..ONE_OFFS {
        let d = DistributionHandle::register("left.once", &[("series", &s.to_string())]);
        (0..EACH).for_each(|i| d.record((s * 10) as f64 + i as f64));
    }

    let rx = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(rx.addr()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .start()
        .expect("start");
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            rx.lines_until(Duration::from_secs(60), |l| {
                l.iter().any(|l| l.starts_with("left.sentinel:"))
            })
        });
        guard.flush();
        CounterHandle::register("left.sentinel", &[]).increment(1);
        guard.flush();
        reader.join().expect("reader")
    });

    let mut sketches = agent_sketches(&lines, "left.heavy:");
    sketches.extend(agent_sketches(&lines, "left.once:"));
    assert_eq!(
        sketches["left.heavy|#"].0.cnt, HEAVY as i64,
        "the heavy series"
    );
    for s in 0..ONE_OFFS {
        let key = format!("left.once|#series:{s}");
        let sketch = sketches
            .get(&key)
            .map(|(sketch, _)| sketch)
            .unwrap_or_else(|| panic!("{key}: nothing arrived"));
        assert_eq!(sketch.cnt, EACH as i64, "{key}: the Agent's count");
        let lo = (s * 10) as f64;
        assert!(
            sketch
                .inserted
                .iter()
                .all(|(v, _)| (lo..lo + 3.0).contains(v)),
            "{key}: values {:?} were not recorded for it",
            sketch.inserted
        );
    }
    let stats = guard.stats();
    assert_eq!(stats.samples_dropped, 0);
    assert!(
        stats.samples_sampled_out > HEAVY / 2,
        "the ring thinned: {} sampled out",
        stats.samples_sampled_out
    );
}
