//! An orchestrated run: a flaky stage that succeeds on its third attempt, a
//! subprocess stage, and a dbt stage when `dbt` is on `PATH`.
//!
//! ```text
//! cargo run --example orchestrated
//! ```
//!
//! Launched by an orchestrator (Prefect, Airflow, cron) with `TRACEPARENT`,
//! `BAGGAGE` or `PIPELINE_ID` set, the run continues the launcher's trace
//! and keeps its `pipeline_id`. With `OTEL_EXPORTER_OTLP_ENDPOINT` /
//! `DD_AGENT_HOST` set the spans go to the Datadog Agent; without, they are
//! printed to stderr.
//!
//! The dbt stage runs the good model of the test fixture project
//! (`tests/fixtures/dbt_project`, or `DBT_PROJECT_DIR`) against the
//! PostgreSQL its `profiles.yml` names (127.0.0.1:5432, database `test`).

use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{Backoff, ProcessStage, RetryPolicy};

static EXTRACT: Stage = Stage::new("extract");
static EXPORT: Stage = Stage::new("export");
static DBT: Stage = Stage::new("dbt");

/// `dbt` on `PATH`, if any.
fn find_dbt() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("dbt"))
        .find(|p| p.is_file())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = pipeline_telemetry::init()?;
    let run = PipelineRun::continue_from_env("orchestrated");
    eprintln!("orchestrated: run {}", run.pipeline_id());

    // A flaky source: fails twice, then answers.
    let policy = RetryPolicy::new(5)
        .with_backoff(
            Backoff::exponential(Duration::from_millis(50)).with_max(Duration::from_secs(1)),
        )
        .with_attempt_timeout(Duration::from_secs(10));
    let rows = policy
        .run_async(&EXTRACT, &run, |attempt| async move {
            if attempt.number() < 3 {
                Err(io::Error::other(format!(
                    "source not ready (attempt {})",
                    attempt.number()
                )))
            } else {
                Ok(1_000_u64)
            }
        })
        .await?;
    run.record_records(&EXTRACT, rows);
    eprintln!("orchestrated: extract succeeded on its third attempt ({rows} rows)");

    // A subprocess: it sees the run's trace context in its environment.
    let mut export = Command::new("sh");
    export.args([
        "-c",
        "echo \"exporting for $PIPELINE_ID\"; echo \"my parent span: $TRACEPARENT\" >&2",
    ]);
    // The stage runs in the run current where it is awaited: `run.scope`.
    let export = ProcessStage::new(&EXPORT, export)
        .with_timeout(Duration::from_secs(30))
        .with_forward_output(true);
    run.scope(export.run_async()).await?;

    // dbt, when it is installed.
    match find_dbt() {
        None => eprintln!(
            "orchestrated: dbt is not on PATH, so there is no dbt stage in this run \
             (pip install dbt-core~=1.10 dbt-postgres to add one)"
        ),
        Some(dbt) => {
            let project = std::env::var_os("DBT_PROJECT_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt_project")
                });
            let target = std::env::temp_dir().join("pt-orchestrated-dbt");
            let mut cmd = Command::new(dbt);
            cmd.args(["run", "--select", "good_orders", "--project-dir"])
                .arg(&project)
                .arg("--profiles-dir")
                .arg(&project)
                .arg("--target-path")
                .arg(target.join("target"))
                .arg("--log-path")
                .arg(target.join("logs"));
            if std::env::var_os("PT_DBT_SCHEMA").is_none() {
                cmd.env("PT_DBT_SCHEMA", "pt_orchestrated_example");
            }
            let dbt = ProcessStage::new(&DBT, cmd).with_timeout(Duration::from_secs(600));
            match run.scope(dbt.run_async()).await {
                Ok(out) => {
                    let rows = out.dbt.map_or(0, |r| r.rows_affected);
                    eprintln!("orchestrated: dbt built {rows} rows");
                }
                Err(e) => eprintln!("orchestrated: the dbt stage failed: {e}"),
            }
        }
    }

    run.finish();
    telemetry.shutdown(Duration::from_secs(10))?;
    Ok(())
}
