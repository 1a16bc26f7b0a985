//! Question 3: what recording one duration sample into a distribution
//! costs through a handle resolved once.
//!
//! `cargo bench --bench distribution` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::time::{Duration, Instant};

use cadence::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion};
use metrics::{Key, Label, Metadata, Recorder};
use pipeline_telemetry_dogstatsd::{DistributionHandle, DogStatsDRecorder};

mod common;

const NAME: &str = "bench.duration";
static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn key() -> Key {
    Key::from_parts(NAME, vec![Label::new("stage", "extract")])
}

fn record(c: &mut Criterion) {
    let guard = common::start_ours();
    let addr = common::blackhole_addr();
    let mut g = c.benchmark_group("distribution_record");
    let v = 0.012_345_f64;

    // The application's case: this thread records, the exporter's flusher
    // drains the thread's ring on its own thread (woken when the ring
    // fills, and every interval), so the ring's cache lines move between
    // cores. A tight loop offers far more samples than any exporter sends:
    // what the ring cannot take is counted per series and folded into the
    // `|@rate` of the samples that are sent (reservoir sampling), so the
    // shares are printed below. Past its first flush, a series recorded
    // this often is thinned at the source (`Series::source_level`): most
    // samples are then counted without reaching the ring.
    let ours = DistributionHandle::register(NAME, &[("stage", "extract")]);
    guard.flush();
    let before = guard.stats();
    let recorded = std::cell::Cell::new(0u64);
    g.bench_function("ours/flusher_thread", |b| {
        b.iter_custom(|iters| {
            recorded.set(recorded.get() + iters);
            let start = Instant::now();
            for _ in 0..iters {
                ours.record(black_box(v));
            }
            start.elapsed()
        })
    });
    guard.flush();
    let after = guard.stats();
    let pct = |n: u64| n as f64 * 100.0 / recorded.get().max(1) as f64;
    println!(
        "distribution_record/ours/flusher_thread: {} samples recorded; sampled out (by the \
         reservoir or the full ring, accounted for in |@rate) {:.1}%; dropped {:.1}%",
        recorded.get(),
        pct(after.samples_sampled_out - before.samples_sampled_out),
        pct(after.samples_dropped - before.samples_dropped),
    );

    let ours_metrics = DogStatsDRecorder.register_histogram(&key(), &META);
    g.bench_function("ours/metrics_histogram", |b| {
        b.iter(|| ours_metrics.record(black_box(v)))
    });

    // Flushed every second like ours, so the unbounded raw bucket holds at
    // most about a second of samples.
    let medd = common::metrics_exporter_dogstatsd(&addr, Some(Duration::from_secs(1)), false);
    let medd_hist = medd.register_histogram(&key(), &META);
    g.bench_function("metrics-exporter-dogstatsd/raw", |b| {
        b.iter(|| medd_hist.record(black_box(v)))
    });

    let medd_s = common::metrics_exporter_dogstatsd(&addr, Some(Duration::from_secs(1)), true);
    let medd_s_hist = medd_s.register_histogram(&key(), &META);
    g.bench_function("metrics-exporter-dogstatsd/sampling", |b| {
        b.iter(|| medd_s_hist.record(black_box(v)))
    });

    let statsd = common::metrics_exporter_statsd(&addr);
    let statsd_hist = statsd.register_histogram(&key(), &META);
    g.bench_function("metrics-exporter-statsd", |b| {
        b.iter(|| statsd_hist.record(black_box(v)))
    });

    let cad = common::cadence_buffered(&addr);
    g.bench_function("cadence/buffered", |b| {
        b.iter(|| {
            cad.distribution_with_tags(NAME, black_box(v))
                .with_tag("stage", "extract")
                .send()
        })
    });

    let cadq = common::cadence_queuing(&addr);
    g.bench_function("cadence/queuing", |b| {
        b.iter(|| {
            cadq.distribution_with_tags(NAME, black_box(v))
                .with_tag("stage", "extract")
                .send()
        })
    });

    let dd = common::dogstatsd_batching(&addr);
    g.bench_function("dogstatsd/batching", |b| {
        b.iter(|| dd.distribution(NAME, black_box(v).to_string(), ["stage:extract"]))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = record
}
criterion_main!(benches);
