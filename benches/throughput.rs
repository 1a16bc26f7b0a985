//! Question 6: end-to-end throughput. Metric points (distribution
//! samples: each one travels as a value on the wire) recorded on one thread
//! and delivered to a real UDP receiver on 127.0.0.1 that drains its socket
//! on its own thread and counts every value that arrives. One iteration
//! records `POINTS` points and ends when the receiver has counted them all
//! (or, if some were lost, when the last one that did arrive arrived), so
//! criterion's elements/s is points/s *delivered* when nothing is lost. Packing efficiency
//! (datagrams per 10 k points) and losses are printed after each exporter.
//!
//! - ours: bounded per-thread buffers, so the producer keeps at most
//!   `WINDOW` points in flight (recorded but not yet received, well under
//!   one ring), as an application sending faster than the Agent can take
//!   would have to; when it has waited 200 µs for the receiver it calls
//!   `guard.flush()` (on its own, timed thread), and the tail of each
//!   batch is sent the same way.
//!   `ours/unpaced` records with no window at all and shows what the
//!   bounded buffers drop when the offered load exceeds what the flusher
//!   sends.
//! - metrics-exporter-dogstatsd: its histogram bucket is unbounded, so it
//!   records with no window; flushed every millisecond (its flushes are
//!   only periodic).
//!
//! Both send datagrams of at most 1432 bytes (their UDP default).
//!
//! `cargo bench --bench throughput` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use metrics::{Key, Label, Metadata, Recorder};
use pipeline_telemetry_dogstatsd::{DistributionHandle, DogStatsDBuilder, Target};

mod common;

use common::Receiver;

const POINTS: u64 = 100_000;
const WINDOW: u64 = 4096;
/// How long a paced producer waits before it flushes by itself.
const NUDGE: Duration = Duration::from_micros(200);
/// How long the receiver may see nothing before the missing points count
/// as lost (both exporters flush far more often than this).
const STALL: Duration = Duration::from_millis(200);
const NAME: &str = "bench.tput.duration";
static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// Durations of whole milliseconds, in seconds.
#[inline]
fn value(i: u64) -> f64 {
    (i % 1000 + 1) as f64 / 1000.0
}

/// Waits until `rx` has counted `target` values, or until nothing has
/// arrived for `stall` (then the rest is lost); `nudge` is called once per
/// quarter of a stall. Returns the values counted and when the last of them
/// arrived, so that the time spent waiting for lost values is not counted.
fn wait_for(
    rx: &Receiver,
    target: u64,
    stall: Duration,
    mut nudge: impl FnMut(),
) -> (u64, Instant) {
    let mut last = rx.values();
    let mut since = Instant::now();
    let mut nudged = false;
    loop {
        let now = rx.values();
        if now != last {
            last = now;
            since = Instant::now();
            nudged = false;
        }
        if now >= target {
            return (now, since);
        }
        if since.elapsed() > stall {
            return (now, since);
        }
        if since.elapsed() > stall / 4 && !nudged {
            nudge();
            nudged = true;
        }
        std::thread::yield_now();
    }
}

/// What a [`Receiver`] had counted when an iteration started.
struct Mark {
    values: u64,
    datagrams: u64,
    bytes: u64,
}

impl Mark {
    fn now(rx: &Receiver) -> Self {
        Mark {
            values: rx.values(),
            datagrams: rx.datagrams(),
            bytes: rx.counts.bytes.load(Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct Tally {
    offered: AtomicU64,
    received: AtomicU64,
    datagrams: AtomicU64,
    bytes: AtomicU64,
}

impl Tally {
    /// Adds one iteration: `POINTS` offered, and what `rx` counted since
    /// `mark` (`got` values in all).
    fn add_since(&self, rx: &Receiver, mark: &Mark, got: u64) {
        self.offered.fetch_add(POINTS, Ordering::Relaxed);
        self.received
            .fetch_add(got - mark.values, Ordering::Relaxed);
        self.datagrams
            .fetch_add(rx.datagrams() - mark.datagrams, Ordering::Relaxed);
        self.bytes.fetch_add(
            rx.counts.bytes.load(Ordering::Relaxed) - mark.bytes,
            Ordering::Relaxed,
        );
    }

    fn report(&self, who: &str, extra: &str) {
        let offered = self.offered.load(Ordering::Relaxed);
        let received = self.received.load(Ordering::Relaxed);
        let datagrams = self.datagrams.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let per10k = datagrams as f64 * 10_000.0 / received.max(1) as f64;
        println!(
            "udp_throughput/{who}: points offered {offered}, received {received} \
             (lost {}), datagrams {datagrams}, datagrams per 10k points {per10k:.1}, \
             bytes per datagram {:.0}{extra}",
            offered.saturating_sub(received),
            bytes as f64 / datagrams.max(1) as f64,
        );
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_throughput");
    g.throughput(Throughput::Elements(POINTS));

    // Ours.
    let rx = Receiver::start("bench.tput");
    let guard = DogStatsDBuilder::new(Target::Udp(rx.addr().to_owned()))
        .start()
        .expect("start the exporter");
    let h = DistributionHandle::register(NAME, &[("stage", "extract")]);
    let tally = Tally::default();
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mark = Mark::now(&rx);
                let v0 = mark.values;
                let start = Instant::now();
                let mut i = 0;
                while i < POINTS {
                    // Keep at most WINDOW points in flight; samples below
                    // the ring's wake mark wait for the next interval, so
                    // a producer that has to wait flushes them itself.
                    let waiting = Instant::now();
                    while i - (rx.values() - v0) >= WINDOW {
                        if waiting.elapsed() > NUDGE {
                            guard.flush();
                        }
                        std::thread::yield_now();
                    }
                    let end = (i + 256).min(POINTS);
                    for j in i..end {
                        h.record(black_box(value(j)));
                    }
                    i = end;
                }
                guard.flush();
                let (got, end) = wait_for(&rx, v0 + POINTS, STALL, || guard.flush());
                total += end - start;
                tally.add_since(&rx, &mark, got);
            }
            total
        })
    });
    let stats = guard.stats();
    tally.report(
        "ours",
        &format!(
            ", exporter: packets sent {} dropped {}, samples dropped {}",
            stats.packets_sent, stats.packets_dropped, stats.samples_dropped
        ),
    );

    let unpaced = Tally::default();
    let dropped0 = guard.stats().samples_dropped;
    g.bench_function("ours/unpaced", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mark = Mark::now(&rx);
                let v0 = mark.values;
                let dropped = guard.stats().samples_dropped;
                let start = Instant::now();
                for j in 0..POINTS {
                    h.record(black_box(value(j)));
                }
                guard.flush();
                let lost = guard.stats().samples_dropped - dropped;
                let (got, end) = wait_for(&rx, v0 + POINTS - lost, STALL, || guard.flush());
                total += end - start;
                unpaced.add_since(&rx, &mark, got);
            }
            total
        })
    });
    unpaced.report(
        "ours/unpaced",
        &format!(
            ", samples dropped by the bounded buffers {}",
            guard.stats().samples_dropped - dropped0
        ),
    );
    drop(guard);
    drop(rx);

    // metrics-exporter-dogstatsd.
    let rx = Receiver::start("bench.tput");
    let medd = common::metrics_exporter_dogstatsd(rx.addr(), Some(Duration::from_millis(1)), false);
    let key = Key::from_parts(NAME, vec![Label::new("stage", "extract")]);
    let hist = medd.register_histogram(&key, &META);
    let tally = Tally::default();
    g.bench_function("metrics-exporter-dogstatsd", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mark = Mark::now(&rx);
                let v0 = mark.values;
                let start = Instant::now();
                for j in 0..POINTS {
                    hist.record(black_box(value(j)));
                }
                let (got, end) = wait_for(&rx, v0 + POINTS, STALL, || {});
                total += end - start;
                tally.add_since(&rx, &mark, got);
            }
            total
        })
    });
    tally.report("metrics-exporter-dogstatsd", "");
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = throughput
}
criterion_main!(benches);
