//! Question 5: what a whole instrumented stage call costs, against the
//! same function bare, under `#[tracing::instrument]` (no subscriber, and a
//! fmt subscriber writing to `io::sink`), and timed by hand the way
//! `autometrics` does (a clock read around the body, then a call counter
//! and a duration histogram resolved by name through the `metrics` macros,
//! here into `metrics-exporter-dogstatsd`). Also: the clock the stage timer
//! uses, `std::time::Instant` against `quanta`.
//!
//! `cargo bench --bench stage_overhead` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry::{instrument_stage, PipelineRun};

mod common;

#[inline(never)]
fn bare(x: u64) -> Result<u64, io::Error> {
    Ok(black_box(x).wrapping_mul(3))
}

#[instrument_stage(stage = "transform")]
#[inline(never)]
fn with_stage(x: u64) -> Result<u64, io::Error> {
    Ok(black_box(x).wrapping_mul(3))
}

#[tracing::instrument(level = "info", skip_all)]
#[inline(never)]
fn with_tracing(x: u64) -> Result<u64, io::Error> {
    Ok(black_box(x).wrapping_mul(3))
}

/// What `#[autometrics]` expands to, written out: time the body, then
/// count the call by function, module and result, and record its duration.
#[inline(never)]
fn autometrics_style(x: u64) -> Result<u64, io::Error> {
    let start = std::time::Instant::now();
    let ret: Result<u64, io::Error> = Ok(black_box(x).wrapping_mul(3));
    let result = if ret.is_ok() { "ok" } else { "error" };
    metrics::counter!(
        "function.calls",
        "function" => "autometrics_style",
        "module" => module_path!(),
        "result" => result,
    )
    .increment(1);
    metrics::histogram!(
        "function.calls.duration",
        "function" => "autometrics_style",
        "module" => module_path!(),
    )
    .record(start.elapsed().as_secs_f64());
    ret
}

fn stage_call(c: &mut Criterion) {
    common::start_ours();
    let addr = common::blackhole_addr();
    let mut g = c.benchmark_group("stage_call");

    g.bench_function("bare_fn", |b| b.iter(|| bare(black_box(7))));

    g.bench_function("instrument_stage/no_run", |b| {
        b.iter(|| with_stage(black_box(7)))
    });

    g.bench_function("instrument_stage/in_run", |b| {
        let run = PipelineRun::start("bench_pipeline", 1);
        run.in_scope(|| b.iter(|| with_stage(black_box(7))));
        run.finish();
    });

    g.bench_function("tracing_instrument/no_subscriber", |b| {
        b.iter(|| with_tracing(black_box(7)))
    });

    g.bench_function("tracing_instrument/fmt_sink", |b| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(io::sink)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::with_default(subscriber, || b.iter(|| with_tracing(black_box(7))));
    });

    let medd = common::metrics_exporter_dogstatsd(&addr, None, false);
    g.bench_function("autometrics_style/metrics-exporter-dogstatsd", |b| {
        metrics::with_local_recorder(&medd, || b.iter(|| autometrics_style(black_box(7))))
    });
    g.finish();
}

fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("stage_clock");
    g.bench_function("std::time::Instant", |b| {
        b.iter(|| {
            let start = std::time::Instant::now();
            black_box(start.elapsed().as_secs_f64())
        })
    });
    // The first call calibrates quanta's TSC clock.
    let _ = quanta::Instant::now();
    g.bench_function("quanta::Instant", |b| {
        b.iter(|| {
            let start = quanta::Instant::now();
            black_box(
                quanta::Instant::now()
                    .saturating_duration_since(start)
                    .as_secs_f64(),
            )
        })
    });
    let clock = quanta::Clock::new();
    g.bench_function("quanta::Clock::raw", |b| {
        b.iter(|| {
            let start = clock.raw();
            black_box(clock.delta_as_nanos(start, clock.raw()) as f64 * 1e-9)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = stage_call, clock
}
criterion_main!(benches);
