//! Questions 1 and 2: what one counter increment costs through a handle
//! resolved once, alone and with two threads hammering the same counter;
//! and a gauge set through a handle resolved once.
//!
//! `cargo bench --bench counter` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use metrics::{Key, Label, Metadata, Recorder};
use pipeline_telemetry_dogstatsd::{CounterHandle, DogStatsDRecorder, GaugeHandle};

mod common;

const NAME: &str = "bench.counter";
static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn key() -> Key {
    Key::from_parts(NAME, vec![Label::new("stage", "extract")])
}

fn single_thread(c: &mut Criterion) {
    common::start_ours();
    let addr = common::blackhole_addr();
    let mut g = c.benchmark_group("counter_increment");

    let ours = CounterHandle::register(NAME, &[("stage", "extract")]);
    g.bench_function("ours/handle", |b| b.iter(|| ours.increment(black_box(1))));

    let ours_metrics = DogStatsDRecorder.register_counter(&key(), &META);
    g.bench_function("ours/metrics_counter", |b| {
        b.iter(|| ours_metrics.increment(black_box(1)))
    });

    let medd = common::metrics_exporter_dogstatsd(&addr, None, false);
    let medd_counter = medd.register_counter(&key(), &META);
    g.bench_function("metrics-exporter-dogstatsd", |b| {
        b.iter(|| medd_counter.increment(black_box(1)))
    });

    let statsd = common::metrics_exporter_statsd(&addr);
    let statsd_counter = statsd.register_counter(&key(), &META);
    g.bench_function("metrics-exporter-statsd", |b| {
        b.iter(|| statsd_counter.increment(black_box(1)))
    });

    let cad = common::cadence_buffered(&addr);
    g.bench_function("cadence/buffered", |b| {
        b.iter(|| {
            cad.count_with_tags(NAME, black_box(1))
                .with_tag("stage", "extract")
                .send()
        })
    });

    let cadq = common::cadence_queuing(&addr);
    g.bench_function("cadence/queuing", |b| {
        b.iter(|| {
            cadq.count_with_tags(NAME, black_box(1))
                .with_tag("stage", "extract")
                .send()
        })
    });

    let dd = common::dogstatsd_batching(&addr);
    g.bench_function("dogstatsd/batching", |b| {
        b.iter(|| dd.incr(NAME, ["stage:extract"]))
    });
    g.finish();
}

/// Runs `op` `iters` times on each of two threads started together and
/// returns the wall time divided by nothing: criterion divides by `iters`,
/// so the figure is the time of one increment per thread while the other
/// thread increments the same counter.
fn two_threads(iters: u64, op: &(dyn Fn() + Sync)) -> Duration {
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

fn contended(c: &mut Criterion) {
    common::start_ours();
    let addr = common::blackhole_addr();
    let mut g = c.benchmark_group("counter_increment_2_threads");

    let ours = CounterHandle::register(NAME, &[("stage", "extract")]);
    g.bench_function("ours/handle", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| ours.increment(black_box(1))))
    });

    let ours_metrics = DogStatsDRecorder.register_counter(&key(), &META);
    g.bench_function("ours/metrics_counter", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| ours_metrics.increment(black_box(1))))
    });

    let medd = common::metrics_exporter_dogstatsd(&addr, None, false);
    let medd_counter = medd.register_counter(&key(), &META);
    g.bench_function("metrics-exporter-dogstatsd", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| medd_counter.increment(black_box(1))))
    });

    let statsd = common::metrics_exporter_statsd(&addr);
    let statsd_counter = statsd.register_counter(&key(), &META);
    g.bench_function("metrics-exporter-statsd", |b| {
        b.iter_custom(|iters| two_threads(iters, &|| statsd_counter.increment(black_box(1))))
    });

    let cad = common::cadence_buffered(&addr);
    g.bench_function("cadence/buffered", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = cad
                    .count_with_tags(NAME, black_box(1))
                    .with_tag("stage", "extract")
                    .try_send();
            })
        })
    });

    let cadq = common::cadence_queuing(&addr);
    g.bench_function("cadence/queuing", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = cadq
                    .count_with_tags(NAME, black_box(1))
                    .with_tag("stage", "extract")
                    .try_send();
            })
        })
    });

    let dd = common::dogstatsd_batching(&addr);
    g.bench_function("dogstatsd/batching", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, &|| {
                let _ = dd.incr(NAME, ["stage:extract"]);
            })
        })
    });
    g.finish();
}

/// A gauge set through a handle resolved once: ours (its own handle and
/// the `metrics` crate's) against metrics-exporter-dogstatsd's.
fn gauge(c: &mut Criterion) {
    common::start_ours();
    let addr = common::blackhole_addr();
    let mut g = c.benchmark_group("gauge_set");

    let ours = GaugeHandle::register("bench.gauge", &[("stage", "extract")]);
    g.bench_function("ours/handle", |b| b.iter(|| ours.set(black_box(1.5))));

    let gauge_key = Key::from_parts("bench.gauge", vec![Label::new("stage", "extract")]);
    let ours_metrics = DogStatsDRecorder.register_gauge(&gauge_key, &META);
    g.bench_function("ours/metrics_gauge", |b| {
        b.iter(|| ours_metrics.set(black_box(1.5)))
    });

    let medd = common::metrics_exporter_dogstatsd(&addr, None, false);
    let medd_gauge = medd.register_gauge(&gauge_key, &META);
    g.bench_function("metrics-exporter-dogstatsd", |b| {
        b.iter(|| medd_gauge.set(black_box(1.5)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = single_thread, contended, gauge
}
criterion_main!(benches);
