//! A four-stage ETL pipeline (extract → dbt → spark → load) over a few
//! runs in concurrent tokio tasks, one of which fails in spark. Each run is
//! entered with `run.scope(..)`: its stages are tagged with its pipeline
//! whichever task runs next to it on the same worker.
//!
//! With no Agent configured it prints the exact DogStatsD lines it would
//! send on standard error: that is `init`'s own fallback (the public
//! `Fallback::Console`, no test double), what an application run on a
//! laptop prints too. Point it at an Agent with
//! `DD_AGENT_HOST=<host>` (and `DD_DOGSTATSD_PORT`) or
//! `DD_DOGSTATSD_URL=udp://<host>:8125` (metrics); with `DD_AGENT_HOST`
//! spans go to the Agent's trace intake on 8126, and
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://<host>:4317` sends them over OTLP
//! instead (this workspace's examples build with the `otlp` and
//! `otlp-http` features). Logs are
//! human-readable; `PIPELINE_TELEMETRY_LOG_FORMAT=json` prints the JSON lines
//! Datadog correlates with traces.
//!
//! ```text
//! cargo run --example etl_pipeline
//! ```

use std::time::Duration;

use pipeline_telemetry::{instrument_stage, PipelineRun, Stage, TelemetryBuilder};

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
    pipeline_telemetry::record_records(rows.len() as u64);
    Ok(rows)
}

#[instrument_stage(stage = "dbt")]
async fn transform(rows: Vec<u32>) -> Result<Vec<u32>, StageError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let rows: Vec<u32> = rows.into_iter().filter(|r| r % 10 != 0).collect();
    pipeline_telemetry::record_records(rows.len() as u64);
    Ok(rows)
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
    pipeline_telemetry::record_records(n as u64);
    Ok(n)
}

/// A stage that is not a function of its own: publishing the run's
/// report, timed around a closure.
static PUBLISH: Stage = Stage::new("publish");

async fn run_once(id: u32, fail: bool) -> Result<(), StageError> {
    let run = PipelineRun::start("daily_etl", id);
    let result = run
        .scope(async {
            for batch in 0..3 {
                let rows = extract(batch)?;
                let rows = transform(rows).await?;
                let n = spark(&rows, fail && batch == 2)?;
                load(n).await?;
            }
            PUBLISH.run(|| {
                tracing::info!("report published");
                Ok::<_, StageError>(())
            })
        })
        .await;
    // The run's end: `prefect.flow.duration` with `status:ok|failed`, and
    // for a failed run, the reason on its span.
    match &result {
        Ok(()) => run.finish(),
        Err(e) => run.fail_with_error(e),
    }
    result
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let agent = std::env::var_os("DD_AGENT_HOST").is_some()
        || std::env::var_os("DD_DOGSTATSD_URL").is_some();
    // What `pipeline_telemetry::init()` does, with a service name when
    // `DD_SERVICE` gives none: metrics to the Agent the environment names,
    // else printed on standard error as they are flushed.
    let mut builder = TelemetryBuilder::from_env();
    if std::env::var_os("DD_SERVICE").is_none() {
        builder = builder.with_service("etl-example");
    }
    let telemetry = builder.init()?;

    let mut runs = tokio::task::JoinSet::new();
    for id in 1..=4 {
        runs.spawn(async move { (id, run_once(id, id == 3).await) });
    }
    while let Some(done) = runs.join_next().await {
        match done? {
            (id, Ok(())) => eprintln!("run {id}: ok"),
            (id, Err(e)) => eprintln!("run {id}: failed: {e}"),
        }
    }
    drop(telemetry); // flushes everything

    if agent {
        println!("metrics sent to the Datadog Agent");
        return Ok(());
    }
    println!(
        "No Agent is configured: the DogStatsD lines were printed on standard error, not sent."
    );
    println!("To send to a Datadog Agent (metrics to DogStatsD on 8125, spans to its trace intake on 8126, no Agent change): DD_AGENT_HOST=<host> [DD_DOGSTATSD_PORT=8125] [DD_TRACE_AGENT_PORT=8126], e.g.");
    println!(
        "  DD_AGENT_HOST=127.0.0.1 DD_SERVICE=etl DD_ENV=dev cargo run --example etl_pipeline"
    );
    println!("No Datadog account? `cargo run -p pipeline-telemetry-cli -- dev` serves the dashboard and monitors on http://127.0.0.1:8877/ from what DD_AGENT_HOST=127.0.0.1 OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8877 cargo run --example etl_pipeline sends it.");
    Ok(())
}
