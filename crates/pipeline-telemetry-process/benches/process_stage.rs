//! What running a command as a `ProcessStage` costs beside the bare
//! `std::process::Command`, for a command that does nothing (`/bin/true`),
//! so the difference is the stage alone: span, environment injection, new
//! process group, pipes and their reader threads, the waiter, the group
//! check at exit and the stage's metrics.
//!
//! `PT_BENCH_QUICK=1` shortens the run (1 s warm-up, 2 s measurement, 20
//! samples).

use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{MetricsTarget, PipelineRun, Stage, TelemetryBuilder};
use pipeline_telemetry_process::ProcessStage;

static TRUE: Stage = Stage::new("true");

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

fn bench(c: &mut Criterion) {
    let _telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Memory(MemorySink::new()))
        .with_otel(|o| o.with_endpoint("http://127.0.0.1:9"))
        .quiet()
        .try_init()
        .expect("init");
    let run = PipelineRun::start("bench", "1");
    let mut g = c.benchmark_group("spawn_true");
    g.bench_function("bare_status", |b| {
        b.iter(|| {
            Command::new("/bin/true")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("true")
        })
    });
    g.bench_function("bare_output", |b| {
        b.iter(|| Command::new("/bin/true").output().expect("true"))
    });
    g.bench_function("process_stage", |b| {
        b.iter(|| {
            run.in_scope(|| ProcessStage::new(&TRUE, Command::new("/bin/true")).run())
                .expect("true")
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    g.bench_function("process_stage_async", |b| {
        b.iter(|| {
            rt.block_on(run.scope(ProcessStage::new(&TRUE, Command::new("/bin/true")).run_async()))
                .expect("true")
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = config(); targets = bench }
criterion_main!(benches);
