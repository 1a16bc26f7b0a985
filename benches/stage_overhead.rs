//! Question 5: what a whole instrumented stage call costs, against the
//! same function bare, under `#[tracing::instrument]` (no subscriber, and a
//! fmt subscriber writing to `io::sink`), and timed by hand the way
//! `autometrics` does (a clock read around the body, then a call counter
//! and a duration histogram resolved by name through the `metrics` macros,
//! here into `metrics-exporter-dogstatsd`). Also: the clock the stage timer
//! uses, `std::time::Instant` against `quanta`.
//!
//! The fair peer for the metrics-only stage call is written by hand with
//! cached handles: the `metrics-exporter-dogstatsd` histograms (ok, error)
//! and error counter of the call site are resolved once, as
//! `#[instrument_stage]` caches its own; the call times the body and
//! records one sample, with `std::time::Instant` and with the same
//! `quanta::Clock::raw` our stage timer uses. The stage call is also
//! measured with the subscriber `init()` installs (OTLP traces to a
//! loopback port nobody listens on, JSON logs to `io::sink`), next to the
//! metrics-only figure.
//!
//! `cargo bench --bench stage_overhead` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::io;
use std::sync::OnceLock;

use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry::otel::{LogFormat, OtelBuilder, Protocol, TracesExport};
use pipeline_telemetry::{instrument_stage, PipelineRun};
use tracing_subscriber::layer::SubscriberExt;

mod common;

/// An OTLP endpoint on loopback where nothing listens.
fn closed_loopback_endpoint() -> String {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "127.0.0.1:9".to_owned());
    format!("http://{addr}")
}

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

/// The handles of the hand-written peer's one call site, resolved once.
struct PeerHandles {
    ok: metrics::Histogram,
    error: metrics::Histogram,
    errors: metrics::Counter,
}

static PEER: OnceLock<PeerHandles> = OnceLock::new();
static PEER_CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn peer_handles(r: &impl metrics::Recorder) -> PeerHandles {
    use metrics::{Key, Label, Level, Metadata};
    static META: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);
    let key = |name: &'static str, status: Option<&'static str>| {
        let mut labels = vec![Label::new("stage", "transform")];
        if let Some(s) = status {
            labels.push(Label::new("status", s));
        }
        Key::from_parts(name, labels)
    };
    PeerHandles {
        ok: r.register_histogram(&key("pipeline.stage.duration", Some("ok")), &META),
        error: r.register_histogram(&key("pipeline.stage.duration", Some("error")), &META),
        errors: r.register_counter(&key("pipeline.errors", None), &META),
    }
}

/// A stage timed by hand into cached handles, `std::time::Instant`.
#[inline(never)]
fn cached_handles_std(x: u64) -> Result<u64, io::Error> {
    let Some(h) = PEER.get() else {
        return Ok(x);
    };
    let start = std::time::Instant::now();
    let ret: Result<u64, io::Error> = Ok(black_box(x).wrapping_mul(3));
    let secs = start.elapsed().as_secs_f64();
    match &ret {
        Ok(_) => h.ok.record(secs),
        Err(_) => {
            h.error.record(secs);
            h.errors.increment(1);
        }
    }
    ret
}

/// The same with `quanta::Clock::raw`, the clock our stage timer uses.
#[inline(never)]
fn cached_handles_quanta(x: u64) -> Result<u64, io::Error> {
    let (Some(h), Some(clock)) = (PEER.get(), PEER_CLOCK.get()) else {
        return Ok(x);
    };
    let start = clock.raw();
    let ret: Result<u64, io::Error> = Ok(black_box(x).wrapping_mul(3));
    let secs = clock.delta_as_nanos(start, clock.raw()) as f64 * 1e-9;
    match &ret {
        Ok(_) => h.ok.record(secs),
        Err(_) => {
            h.error.record(secs);
            h.errors.increment(1);
        }
    }
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

    let _ = PEER.set(peer_handles(&medd));
    let _ = PEER_CLOCK.set(quanta::Clock::new());
    g.bench_function(
        "cached_handles/metrics-exporter-dogstatsd/std_instant",
        |b| b.iter(|| cached_handles_std(black_box(7))),
    );
    g.bench_function(
        "cached_handles/metrics-exporter-dogstatsd/quanta_raw",
        |b| b.iter(|| cached_handles_quanta(black_box(7))),
    );

    // The stage call under the subscriber init() installs: OTLP traces
    // (batch export on a background thread to a closed loopback port) and
    // JSON logs; scoped to this thread, metrics stay the exporter's above.
    let (layer, otel_guard) = OtelBuilder::new("bench")
        .with_endpoint(closed_loopback_endpoint())
        .with_protocol(Protocol::HttpProtobuf)
        .with_traces(TracesExport::Otlp)
        .with_log_format(LogFormat::Json)
        .with_log_writer(io::sink)
        .with_console_writer(io::sink)
        .build_layer()
        .expect("build the init() pipeline's layer");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let run = PipelineRun::start("bench_pipeline", 2);
        g.bench_function("instrument_stage/init_subscriber", |b| {
            run.in_scope(|| b.iter(|| with_stage(black_box(7))))
        });
        run.finish();
    });
    drop(otel_guard);
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
