//! A four-stage ETL pipeline (extract → dbt → spark → load) over a few
//! runs, one of which fails in spark.
//!
//! With no Agent configured it prints the exact DogStatsD lines it would
//! send and a per-stage summary. Point it at an Agent with
//! `DD_AGENT_HOST=<host>` (and `DD_DOGSTATSD_PORT`) or
//! `DD_DOGSTATSD_URL=udp://<host>:8125` (metrics) and
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://<host>:4317` (traces). Logs are
//! human-readable; `PIPELINE_TELEMETRY_LOG_FORMAT=json` prints the JSON lines
//! Datadog correlates with traces.
//!
//! ```text
//! cargo run --example etl_pipeline
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline_telemetry::testing::{MemorySink, ParsedMetric};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};

#[derive(Debug)]
struct StageError(&'static str);

impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for StageError {}

#[instrument_stage]
fn extract(batch: u32) -> Result<Vec<u32>, StageError> {
    std::thread::sleep(Duration::from_millis(2 + u64::from(batch % 3)));
    let rows: Vec<u32> = (0..100 + batch * 10).collect();
    tracing::info!(rows = rows.len(), batch, "extracted");
    Ok(rows)
}

#[instrument_stage(stage = "dbt")]
async fn transform(rows: Vec<u32>) -> Result<Vec<u32>, StageError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(rows.into_iter().filter(|r| r % 10 != 0).collect())
}

#[instrument_stage]
fn spark(rows: &[u32], fail: bool) -> Result<usize, StageError> {
    std::thread::sleep(Duration::from_millis(8));
    if fail {
        tracing::warn!(executors = 0, "no executor left");
        return Err(StageError("executor lost"));
    }
    Ok(rows.len())
}

#[instrument_stage]
async fn load(n: usize) -> Result<usize, StageError> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    Ok(n)
}

async fn run_once(id: u32, fail: bool) -> Result<(), StageError> {
    let run = PipelineRun::start("daily_etl", id);
    for batch in 0..3 {
        let rows = extract(batch)?;
        run.record_records("extract", rows.len() as u64);
        let rows = transform(rows).await?;
        run.record_records("dbt", rows.len() as u64);
        let n = spark(&rows, fail && batch == 2)?;
        let loaded = load(n).await?;
        run.record_records("load", loaded as u64);
    }
    run.finish();
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = std::env::var_os("DD_AGENT_HOST").is_some()
        || std::env::var_os("DD_DOGSTATSD_URL").is_some();
    let sink = MemorySink::new();
    let telemetry = if agent {
        pipeline_telemetry::init()?
    } else {
        let mut builder =
            TelemetryBuilder::from_env().with_metrics_target(MetricsTarget::Memory(sink.clone()));
        if std::env::var_os("DD_SERVICE").is_none() {
            builder = builder.with_service("etl-example");
        }
        builder.init()?
    };

    for id in 1..=4 {
        match run_once(id, id == 3).await {
            Ok(()) => eprintln!("run {id}: ok"),
            Err(e) => eprintln!("run {id}: failed: {e}"),
        }
    }
    drop(telemetry); // flushes everything

    if agent {
        println!("metrics sent to the Datadog Agent");
        return Ok(());
    }
    println!("# DogStatsD lines (no Agent configured, so nothing was sent):");
    for line in sink.lines() {
        println!("{line}");
    }
    print_summary(&sink.metrics()?);
    println!();
    println!("To send to a Datadog Agent: DD_AGENT_HOST=<host> [DD_DOGSTATSD_PORT=8125] or DD_DOGSTATSD_URL=udp://<host>:8125, e.g.");
    println!(
        "  DD_AGENT_HOST=127.0.0.1 DD_SERVICE=etl DD_ENV=dev cargo run --example etl_pipeline"
    );
    Ok(())
}

#[derive(Default)]
struct StageSummary {
    durations: Vec<f64>,
    errors: f64,
}

fn print_summary(metrics: &[ParsedMetric]) {
    let mut stages: BTreeMap<String, StageSummary> = BTreeMap::new();
    for m in metrics {
        let Some(stage) = m.tag("stage") else {
            continue;
        };
        let s = stages.entry(stage.to_owned()).or_default();
        match m.name.as_str() {
            "pipeline.stage.duration" => s.durations.extend(&m.values),
            "pipeline.errors" => s.errors += m.values.iter().sum::<f64>(),
            _ => {}
        }
    }
    println!();
    println!("# Per-stage summary");
    println!(
        "{:<8} {:>5} {:>9} {:>9} {:>6}",
        "stage", "count", "p50 (s)", "p95 (s)", "errors"
    );
    for (name, mut s) in stages {
        s.durations.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if s.durations.is_empty() {
                0.0
            } else {
                s.durations[((s.durations.len() - 1) as f64 * p).round() as usize]
            }
        };
        println!(
            "{:<8} {:>5} {:>9.4} {:>9.4} {:>6}",
            name,
            s.durations.len(),
            q(0.5),
            q(0.95),
            s.errors
        );
    }
}
