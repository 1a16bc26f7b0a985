//! No `Duration` or size a user can pass panics: `Duration::MAX` for every
//! interval and timeout, `usize::MAX` for every size. Each is given to a
//! running exporter, which must still send (over real UDP where the
//! setting is about the network), and the flusher thread must survive it.

use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{
    CounterHandle, DistributionHandle, DogStatsDBuilder, MemorySink, Target,
    DEFAULT_MAX_SAMPLES_PER_SERIES, MAX_PAYLOAD,
};
use pipeline_telemetry_test_support::UdpReceiver;

fn quiet(target: Target) -> DogStatsDBuilder {
    DogStatsDBuilder::new(target)
        .with_origin_detection(false)
        .with_telemetry(false)
}

fn has(lines: &[String], prefix: &str) -> bool {
    lines.iter().any(|l| l.starts_with(prefix))
}

/// Whether a line starting with `prefix` reaches `sink` within `within`.
fn arrives(sink: &MemorySink, prefix: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !has(&sink.lines(), prefix) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    has(&sink.lines(), prefix)
}

#[test]
fn duration_max_and_usize_max_never_panic() {
    // Every interval at Duration::MAX, every size at usize::MAX.
    let sink = MemorySink::new();
    let guard = quiet(Target::Memory(sink.clone()))
        .with_flush_interval(Duration::MAX)
        .with_telemetry_interval(Duration::MAX)
        .with_resolve_interval(Duration::MAX)
        .with_max_payload(usize::MAX)
        .with_max_samples_per_series(usize::MAX)
        .start()
        .expect("start");
    CounterHandle::register("limits.count", &[]).increment(1);
    let d = DistributionHandle::register("limits.dist", &[]);
    // Past the default cap of 4,096 per flush, below the 7/8 of a thread's
    // 8,192-sample buffer where thinning would start: every sample is sent
    // when the cap is lifted.
    for i in 0..6_000 {
        d.record(f64::from(i) + 0.123_456_789);
    }
    guard.flush();
    assert!(has(&sink.lines(), "limits.count:1|c"), "{:?}", sink.lines());
    let values: usize = sink
        .lines()
        .iter()
        .filter_map(|l| l.strip_prefix("limits.dist:"))
        .map(|l| l.split('|').next().unwrap_or("").split(':').count())
        .sum();
    // More than the default cap per flush are sent: all of them.
    assert!(
        values > DEFAULT_MAX_SAMPLES_PER_SERIES && values == 6_000,
        "usize::MAX samples a series took effect: {values}"
    );
    let largest = sink.datagrams().iter().map(Vec::len).max().unwrap_or(0);
    assert!(largest <= MAX_PAYLOAD, "a datagram of {largest} bytes");
    assert!(
        largest > 8192,
        "usize::MAX took effect (lowered to MAX_PAYLOAD)"
    );
    guard.shutdown(Duration::MAX).expect("shutdown");

    // A host name re-resolved every Duration::MAX, over real UDP.
    let rx = UdpReceiver::bind().expect("bind");
    let addr: std::net::SocketAddr = rx.addr().parse().expect("address");
    let guard = quiet(Target::Udp("limits-agent:8125".into()))
        .with_flush_interval(Duration::MAX)
        .with_resolve_interval(Duration::MAX)
        .with_resolver(move |_| Ok(vec![addr]))
        .start()
        .expect("start");
    CounterHandle::register("limits.udp", &[]).increment(2);
    guard.flush();
    let lines = rx.lines_until(Duration::from_secs(10), |l| has(l, "limits.udp:2|c"));
    assert!(has(&lines, "limits.udp:2|c"), "{lines:?}");
    drop(guard);

    // The flusher thread lived through a Duration::MAX interval: it flushes
    // on its own schedule again (no flush() called here).
    let sink = MemorySink::new();
    let guard = quiet(Target::Memory(sink.clone()))
        .with_flush_interval(Duration::from_millis(10))
        .start()
        .expect("start");
    CounterHandle::register("limits.background", &[]).increment(3);
    assert!(
        arrives(&sink, "limits.background:3|c", Duration::from_secs(30)),
        "the flusher thread no longer flushes"
    );
    guard.shutdown(Duration::MAX).expect("shutdown");

    // Zero is the other end: floored, never a busy loop or a panic.
    let sink = MemorySink::new();
    let guard = quiet(Target::Memory(sink.clone()))
        .with_flush_interval(Duration::ZERO)
        .with_telemetry_interval(Duration::ZERO)
        .with_resolve_interval(Duration::ZERO)
        .with_max_payload(0)
        .with_max_samples_per_series(0)
        .start()
        .expect("start");
    CounterHandle::register("limits.zero", &[]).increment(4);
    guard.shutdown(Duration::ZERO).ok();
    // The final flush is never skipped; its datagrams may be left to a send
    // in progress on the flusher's thread (a zero timeout waits for none).
    assert!(
        arrives(&sink, "limits.zero:4|c", Duration::from_secs(10)),
        "{:?}",
        sink.lines()
    );
    // And the exporter is stopped: nothing recorded after is sent (when a
    // zero timeout skipped the final flush, the exporter ran on).
    CounterHandle::register("limits.after_stop", &[]).increment(5);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !has(&sink.lines(), "limits.after_stop"),
        "the exporter still ran after shutdown: {:?}",
        sink.lines()
    );
}
