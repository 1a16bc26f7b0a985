//! Span overhead of a stage: the stage span exactly as `#[instrument_stage]`
//! emits it, with this crate's pipeline installed (OTLP export, JSON logs,
//! pipeline fields), against a plain `#[tracing::instrument]` function under
//! a bare `tracing-opentelemetry` layer with the SDK's batch exporter, in one
//! run.
//!
//! Both export over OTLP/HTTP to a loopback port nobody listens on: export
//! happens on background threads either way, so the numbers are the cost
//! paid on the pipeline's own thread. `cargo bench -p pipeline-telemetry-otel`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use pipeline_telemetry_otel::{LogFormat, OtelBuilder, Protocol, TracesExport};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

fn closed_loopback_endpoint() -> String {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "127.0.0.1:9".to_owned());
    format!("http://{addr}")
}

fn work(n: u64) -> u64 {
    (0..black_box(n)).fold(0, |a, b| a.wrapping_add(b * b))
}

/// What `#[instrument_stage]` expands to around the stage body.
fn pipeline_stage(n: u64) -> u64 {
    let span = tracing::info_span!(target: "pipeline_telemetry", "pipeline.stage",
        stage = "transform", pipeline = "bench", pipeline_id = "run-1",
        "operation.name" = "pipeline.stage", "resource.name" = "transform",
        otel.status_code = Empty, otel.status_message = Empty);
    let _entered = span.enter();
    work(n)
}

#[tracing::instrument(
    target = "pipeline_telemetry",
    name = "pipeline.stage",
    skip_all,
    fields(stage = "transform", pipeline = "bench", pipeline_id = "run-1")
)]
fn instrumented_stage(n: u64) -> u64 {
    work(n)
}

fn span_overhead(c: &mut Criterion) {
    let endpoint = closed_loopback_endpoint();
    let mut group = c.benchmark_group("stage_span");
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("bare_function", |b| b.iter(|| work(black_box(16))));

    match OtelBuilder::new("bench")
        .with_endpoint(&endpoint)
        .with_protocol(Protocol::HttpProtobuf)
        .with_traces(TracesExport::Otlp)
        .with_log_format(LogFormat::Json)
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
    {
        Ok((layer, guard)) => {
            let dispatch = tracing::Dispatch::new(Registry::default().with(layer));
            tracing::dispatcher::with_default(&dispatch, || {
                group.bench_function("pipeline_telemetry_otlp", |b| {
                    b.iter(|| pipeline_stage(black_box(16)))
                });
            });
            let _ = guard.shutdown(Duration::from_millis(200));
        }
        Err(e) => eprintln!("pipeline-telemetry pipeline not built: {e}"),
    }

    match SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .with_timeout(Duration::from_millis(200))
        .build()
    {
        Ok(exporter) => {
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
            let dispatch = tracing::Dispatch::new(Registry::default().with(layer));
            tracing::dispatcher::with_default(&dispatch, || {
                group.bench_function("tracing_instrument_plus_tracing_opentelemetry", |b| {
                    b.iter(|| instrumented_stage(black_box(16)))
                });
            });
            let _ = provider.shutdown_with_timeout(Duration::from_millis(200));
        }
        Err(e) => eprintln!("peer exporter not built: {e}"),
    }
    group.finish();
}

criterion_group!(benches, span_overhead);
criterion_main!(benches);
