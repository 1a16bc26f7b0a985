//! What the instrumentation costs one query on the real local PostgreSQL:
//! `SELECT 1` through the bare `PgPool` and through `TracedPool`, in the
//! same run, over the same pool (one connection, so both take the same
//! path to the server).
//!
//! Telemetry is the project's `init()` exporting OTLP/HTTP to Datadog's APM
//! test agent on loopback, and every traced query runs inside a stage span
//! as in a pipeline, so each span is really built and exported (export on
//! the exporter's thread). The difference between the two cases is the
//! span, the literal stripping of the query text and the wrapper.
//!
//! `PT_BENCH_QUICK=1` shortens the run (1 s warm-up, 2 s measurement).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry::{MetricsTarget, TelemetryBuilder, TelemetryGuard};
use pipeline_telemetry_sqlx::TracedPool;
use pipeline_telemetry_test_support::{agent, peers};
use sqlx::postgres::PgPoolOptions;
use tracing::Instrument;

fn config() -> Criterion {
    let quick = std::env::var_os("PT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let c = Criterion::default();
    if quick {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20)
    } else {
        c
    }
}

fn telemetry() -> TelemetryGuard {
    let agent = agent::agent();
    TelemetryBuilder::from_env()
        .with_service("bench-sqlx")
        .with_metrics_target(MetricsTarget::Memory(
            pipeline_telemetry::testing::MemorySink::new(),
        ))
        .with_otel(|o| {
            o.with_endpoint(agent.otlp_http.clone())
                .with_protocol(Protocol::HttpProtobuf)
                .with_header(agent::TOKEN_HEADER, agent::token("bench-sqlx"))
        })
        .quiet()
        .try_init()
        .expect("telemetry init")
}

fn bench(c: &mut Criterion) {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    let _telemetry = telemetry();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pool = rt
        .block_on(
            PgPoolOptions::new()
                .max_connections(1)
                .connect(&peers::database_url()),
        )
        .expect("connect to PostgreSQL");
    let traced = TracedPool::new(pool.clone());
    let stage =
        tracing::info_span!(target: "pipeline_telemetry", "pipeline.stage", stage = "bench");

    let mut group = c.benchmark_group("postgres_select_1");
    group.bench_function("bare_pgpool", |b| {
        b.to_async(&rt).iter(|| async {
            let v: i32 = sqlx::query_scalar("SELECT 1")
                .fetch_one(&pool)
                .await
                .expect("select");
            v
        })
    });
    group.bench_function("traced_pool", |b| {
        b.to_async(&rt).iter(|| {
            async {
                let v: i32 = sqlx::query_scalar("SELECT 1")
                    .fetch_one(&traced)
                    .await
                    .expect("select");
                v
            }
            .instrument(stage.clone())
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
