//! Question 6: end-to-end throughput with an unpaced producer. Metric
//! points (distribution samples: each one travels as a value on the wire)
//! recorded on one thread as fast as it can, with no producer-side flush,
//! and delivered to a real UDP receiver on 127.0.0.1 that drains its socket
//! on its own thread. One iteration records `POINTS` points and ends when
//! the last datagram it caused arrived (the receiver then sees nothing for
//! `STALL`, which is not counted). Each iteration starts at a random phase
//! of the flush interval (a delay drawn from the same fixed sequence for
//! every exporter, not counted): without it every iteration started just
//! after a flush, and waited almost a whole interval for the last one.
//!
//! Every exporter flushes on its own thread every `FLUSH` (the same for
//! all). After each exporter the bench prints what was **recorded**, what
//! arrived (values), what **Datadog would count** from it (each value
//! weighted by `int64(1 / rate)` of its line's `|@rate`, as the Agent
//! truncates it), and what was **dropped**
//! (recorded minus the rate-scaled count; for ours also the exporter's own
//! count of dropped samples). A sampling exporter sends fewer values than
//! were recorded and still counts right; a dropping one counts short.
//!
//! - ours: `pipeline-telemetry-dogstatsd` with its defaults except the
//!   flush interval.
//! - metrics-exporter-dogstatsd: its raw histogram bucket (unbounded between
//!   flushes) and its sampling reservoir.
//! - cadence: the buffered UDP sink behind its queuing sink (64 Ki queue;
//!   the caller formats, a worker thread writes a datagram whenever the
//!   buffer is full; cadence has no timed flush).
//!
//! All send datagrams of at most 1432 bytes (their UDP default).
//!
//! `cargo bench --bench throughput` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use metrics::{Key, Label, Metadata, Recorder};
use pipeline_telemetry_dogstatsd::{DistributionHandle, DogStatsDBuilder, Target};

mod common;

use common::Receiver;

const POINTS: u64 = 100_000;
/// Every exporter's flush interval.
const FLUSH: Duration = Duration::from_millis(10);
/// How long the receiver may see nothing before an iteration ends (five
/// flush intervals).
const STALL: Duration = Duration::from_millis(50);
const NAME: &str = "bench.tput.duration";
static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

/// Durations of whole milliseconds, in seconds.
#[inline]
fn value(i: u64) -> f64 {
    (i % 1000 + 1) as f64 / 1000.0
}

/// Waits until nothing has arrived at `rx` for `STALL` and returns when
/// the last value arrived.
fn settle(rx: &Receiver) -> Instant {
    let mut last = rx.values();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(1));
        let now = rx.values();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > STALL {
            return since;
        }
    }
}

/// What one exporter recorded and what arrived, over all its iterations.
struct Tally {
    rng: Cell<u64>,
    recorded: Cell<u64>,
    values: Cell<u64>,
    scaled: Cell<f64>,
    datagrams: Cell<u64>,
    producer: Cell<Duration>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            rng: Cell::new(0x9E37_79B9_7F4A_7C15),
            recorded: Cell::default(),
            values: Cell::default(),
            scaled: Cell::default(),
            datagrams: Cell::default(),
            producer: Cell::default(),
        }
    }
}

impl Tally {
    /// Runs one criterion measurement: `iters` times, `record` is called
    /// for `POINTS` points, then the receiver settles.
    fn measure(&self, rx: &Receiver, iters: u64, mut record: impl FnMut(u64)) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            settle(rx);
            // `settle` returns a whole number of flush intervals after the
            // last flush that sent something, so without this every
            // iteration would start just after a flush and wait almost a
            // whole interval for the next one. A random phase (not counted)
            // makes the wait for the final flush half an interval on
            // average, for every exporter alike.
            std::thread::sleep(self.phase());
            let (v0, s0, d0) = (rx.values(), rx.scaled(), rx.datagrams());
            let start = Instant::now();
            for j in 0..POINTS {
                record(j);
            }
            self.producer.set(self.producer.get() + start.elapsed());
            let end = settle(rx);
            total += end.saturating_duration_since(start);
            self.recorded.set(self.recorded.get() + POINTS);
            self.values.set(self.values.get() + rx.values() - v0);
            self.scaled.set(self.scaled.get() + rx.scaled() - s0);
            self.datagrams
                .set(self.datagrams.get() + rx.datagrams() - d0);
        }
        total
    }

    /// A uniformly drawn delay in `[0, FLUSH)` (xorshift; the seed is
    /// fixed, so every exporter gets the same sequence of phases).
    fn phase(&self) -> Duration {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        FLUSH.mul_f64((x >> 11) as f64 / (1u64 << 53) as f64)
    }

    fn report(&self, who: &str, extra: &str) {
        let recorded = self.recorded.get();
        let scaled = self.scaled.get();
        println!(
            "udp_throughput/{who}: recorded {recorded}, values received {}, Datadog would \
             count {scaled:.0} ({:+.2}% of recorded), dropped {:.0}, datagrams {}, \
             producer {:.2} ns/point{extra}",
            self.values.get(),
            (scaled - recorded as f64) * 100.0 / recorded.max(1) as f64,
            (recorded as f64 - scaled).max(0.0),
            self.datagrams.get(),
            self.producer.get().as_nanos() as f64 / recorded.max(1) as f64,
        );
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_throughput");
    g.throughput(Throughput::Elements(POINTS));
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);

    // Ours.
    let rx = Receiver::start("bench.tput");
    let guard = DogStatsDBuilder::new(Target::Udp(rx.addr().to_owned()))
        .with_flush_interval(FLUSH)
        .start()
        .expect("start the exporter");
    let h = DistributionHandle::register(NAME, &[("stage", "extract")]);
    let tally = Tally::default();
    let before = guard.stats();
    g.bench_function("ours", |b| {
        b.iter_custom(|iters| tally.measure(&rx, iters, |j| h.record(black_box(value(j)))))
    });
    let after = guard.stats();
    tally.report(
        "ours",
        &format!(
            ", exporter: samples sampled out {} (in |@rate), dropped {}, packets dropped {}",
            after.samples_sampled_out - before.samples_sampled_out,
            after.samples_dropped - before.samples_dropped,
            after.packets_dropped - before.packets_dropped
        ),
    );
    drop(guard);
    drop(rx);

    // metrics-exporter-dogstatsd, raw bucket and sampling reservoir.
    for (case, sampling) in [("raw", false), ("sampling", true)] {
        let rx = Receiver::start("bench.tput");
        let medd = common::metrics_exporter_dogstatsd(rx.addr(), Some(FLUSH), sampling);
        let key = Key::from_parts(NAME, vec![Label::new("stage", "extract")]);
        let hist = medd.register_histogram(&key, &META);
        let tally = Tally::default();
        let id = format!("metrics-exporter-dogstatsd/{case}");
        g.bench_function(&id, |b| {
            b.iter_custom(|iters| tally.measure(&rx, iters, |j| hist.record(black_box(value(j)))))
        });
        tally.report(&id, "");
    }

    // cadence behind its queuing sink: its worker writes a datagram when
    // the 1432-byte buffer is full (it has no timed flush; the tail of one
    // iteration leaves with the next one's first datagram).
    let rx = Receiver::start("bench.tput");
    let cad = common::cadence_queuing(rx.addr());
    let tally = Tally::default();
    g.bench_function("cadence/queuing", |b| {
        b.iter_custom(|iters| {
            tally.measure(&rx, iters, |j| {
                let _ = cad
                    .distribution_with_tags(NAME, black_box(value(j)))
                    .with_tag("stage", "extract")
                    .try_send();
            })
        })
    });
    tally.report("cadence/queuing", "");
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = throughput
}
criterion_main!(benches);
