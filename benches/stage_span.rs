//! Issue "traces and logs", bench: the span overhead of a stage with
//! tracing exported. The same function under `#[instrument_stage]` with
//! `pipeline_telemetry::init()`'s whole pipeline installed (metrics, OTLP
//! trace export, JSON logs; and with human-readable logs), against `#[tracing::instrument]` under a bare
//! `tracing-opentelemetry` layer with the SDK's batch span processor, and
//! bare. One run, one process.
//!
//! The peer runs twice: with tracing-opentelemetry's defaults (what its
//! users get), and configured as lean as `init()` configures it for
//! ours (`tracing-opentelemetry_lean`).
//!
//! Ours also runs as a scoped subscriber, like the peer, once per export
//! path: OTLP (`otlp+json_logs_scoped`) and the Agent's own trace intake
//! (`datadog+json_logs_scoped`).
//!
//! Every case exports to a loopback HTTP server that takes every request
//! and answers at once (`common::http_sink`: the Agent up): export happens
//! on background threads either way, so the numbers are what the
//! pipeline's own thread pays while the exporters do their real work
//! (protobuf or MessagePack encoding, the request). Metrics go to a bound
//! loopback UDP socket nobody reads.
//!
//! `cargo bench --bench stage_span` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::io;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use pipeline_telemetry::otel::{LogFormat, OtelBuilder, Protocol, TracesExport};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};
use tracing_subscriber::layer::SubscriberExt;

mod common;

fn work(n: u64) -> u64 {
    (0..black_box(n)).fold(0, |a, b| a.wrapping_add(b * b))
}

#[inline(never)]
fn bare(n: u64) -> Result<u64, io::Error> {
    Ok(work(n))
}

#[instrument_stage(stage = "transform")]
#[inline(never)]
fn with_stage(n: u64) -> Result<u64, io::Error> {
    Ok(work(n))
}

#[tracing::instrument(
    target = "pipeline_telemetry",
    name = "pipeline.stage",
    skip_all,
    fields(stage = "transform", pipeline = "bench", pipeline_id = "run-1")
)]
#[inline(never)]
fn with_tracing(n: u64) -> Result<u64, io::Error> {
    Ok(work(n))
}

fn stage_span(c: &mut Criterion) {
    let endpoint = common::http_sink::start();
    let mut g = c.benchmark_group("stage_span");

    g.bench_function("bare_fn", |b| b.iter(|| bare(black_box(16))));

    // Ours: the global subscriber that init() installs.
    let telemetry = TelemetryBuilder::from_env()
        .with_service("bench")
        .with_metrics_target(MetricsTarget::Udp(common::blackhole_addr()))
        .with_otel(|o| {
            o.with_endpoint(&endpoint)
                .with_protocol(Protocol::HttpProtobuf)
                .with_traces(TracesExport::Otlp)
                .with_log_format(LogFormat::Json)
                .with_log_writer(io::sink)
                .with_console_writer(io::sink)
        })
        .quiet()
        .try_init()
        .expect("init the pipeline-telemetry pipeline");
    let run = PipelineRun::start("bench", "run-1");
    g.bench_function("instrument_stage/otlp+json_logs", |b| {
        run.in_scope(|| b.iter(|| with_stage(black_box(16))))
    });

    // The same with human-readable logs, which format every span's fields
    // when it opens (scoped subscriber; metrics stay the global exporter's).
    let (layer, guard) = OtelBuilder::new("bench")
        .with_endpoint(&endpoint)
        .with_protocol(Protocol::HttpProtobuf)
        .with_traces(TracesExport::Otlp)
        .with_log_format(LogFormat::Human)
        .with_log_writer(io::sink)
        .build_layer()
        .expect("build the human-log pipeline");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        // A run of this subscriber's own: a span of one subscriber cannot
        // be the parent of another's.
        let run = PipelineRun::start("bench", "run-2");
        g.bench_function("instrument_stage/otlp+human_logs", |b| {
            run.in_scope(|| b.iter(|| with_stage(black_box(16))))
        });
        run.finish();
    });
    drop(guard);

    // The two export paths side by side, each a scoped subscriber like the
    // peer's below: OTLP/HTTP, and the Agent's own trace intake
    // (`/v0.4/traces`, TracesExport::Datadog), both to a closed loopback
    // port, JSON logs.
    for (name, builder) in [
        (
            "instrument_stage/otlp+json_logs_scoped",
            OtelBuilder::new("bench")
                .with_endpoint(&endpoint)
                .with_protocol(Protocol::HttpProtobuf)
                .with_traces(TracesExport::Otlp),
        ),
        (
            "instrument_stage/datadog+json_logs_scoped",
            OtelBuilder::new("bench")
                .with_trace_agent_url(&endpoint)
                .with_traces(TracesExport::Datadog),
        ),
    ] {
        let (layer, guard) = builder
            .with_log_format(LogFormat::Json)
            .with_log_writer(io::sink)
            .build_layer()
            .expect("build the scoped pipeline");
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
        tracing::dispatcher::with_default(&dispatch, || {
            let run = PipelineRun::start("bench", "run-3");
            g.bench_function(name, |b| {
                run.in_scope(|| b.iter(|| with_stage(black_box(16))))
            });
            run.finish();
        });
        drop(guard);
    }

    // The peer: a scoped subscriber with only tracing-opentelemetry's layer
    // (it takes precedence over the global one on this thread).
    let exporter = SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_millis(200))
        .build()
        .expect("build the peer's OTLP exporter");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("tracing_instrument/tracing-opentelemetry", |b| {
            b.iter(|| with_tracing(black_box(16)))
        });
    });
    // The same peer configured as lean as ours: no busy/idle times,
    // thread, code location or target attributes, no OpenTelemetry context
    // switch on entry (what `init()` sets on its own layer).
    let lean = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("bench"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false)
        .with_target(false)
        .with_context_activation(false);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(lean));
    tracing::dispatcher::with_default(&dispatch, || {
        g.bench_function("tracing_instrument/tracing-opentelemetry_lean", |b| {
            b.iter(|| with_tracing(black_box(16)))
        });
    });
    g.finish();

    let _ = provider.shutdown_with_timeout(Duration::from_millis(200));
    run.finish();
    drop(telemetry);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = stage_span
}
criterion_main!(benches);
