//! Question 4: a call site that resolves its series on every call, with two
//! tags whose values are only known at run time
//! (`counter!("bench.lookup", "pipeline" => p, "stage" => s)` style), then
//! increments it.
//!
//! `cargo bench --bench lookup` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry_dogstatsd::{CounterHandle, DogStatsDRecorder};

mod common;

const PIPELINES: [&str; 3] = ["daily_etl", "hourly_sync", "backfill"];
const STAGES: [&str; 4] = ["extract", "dbt", "spark", "load"];

/// The tag values of call `i`: 12 series visited in turn.
#[inline]
fn tags(i: usize) -> (&'static str, &'static str) {
    (PIPELINES[i % 3], STAGES[(i / 3) % 4])
}

fn lookup(c: &mut Criterion) {
    common::start_ours();
    let addr = common::blackhole_addr();
    let mut g = c.benchmark_group("callsite_lookup_2_tags");

    g.bench_function("ours/register", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = i.wrapping_add(1);
            let (p, s) = tags(black_box(i));
            CounterHandle::register("bench.lookup", &[("pipeline", p), ("stage", s)]).increment(1);
        })
    });

    g.bench_function("ours/metrics_macro", |b| {
        metrics::with_local_recorder(&DogStatsDRecorder, || {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                let (p, s) = tags(black_box(i));
                metrics::counter!("bench.lookup", "pipeline" => p, "stage" => s).increment(1);
            })
        })
    });

    let medd = common::metrics_exporter_dogstatsd(&addr, None, false);
    g.bench_function("metrics-exporter-dogstatsd/metrics_macro", |b| {
        metrics::with_local_recorder(&medd, || {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(1);
                let (p, s) = tags(black_box(i));
                metrics::counter!("bench.lookup", "pipeline" => p, "stage" => s).increment(1);
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = lookup
}
criterion_main!(benches);
