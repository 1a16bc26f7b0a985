//! The worker side of `guide_service`: each delivery is a part of the run
//! that accepted the batch; it stores the rows, then runs dbt and a Spark
//! job as subprocess stages when the batch asks for it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use pipeline_telemetry::{instrument_stage, Stage};
use pipeline_telemetry_lapin::{Message, TracedChannel, Worker};
use pipeline_telemetry_process::{ProcessError, ProcessStage};
use pipeline_telemetry_spark::SparkMonitor;
use pipeline_telemetry_sqlx::{DbError, TracedPool};

/// The worker's handler: a stage of the run that accepted the batch.
static HANDLE_BATCH: Stage = Stage::new("handle_batch");
static DBT: Stage = Stage::new("dbt");
static SPARK: Stage = Stage::new("spark");

/// Why a delivery failed; the message and `source()` are the inner
/// stage's, so its failure is counted once, by that stage.
#[derive(Debug)]
pub(crate) enum HandleError {
    Db(DbError),
    Process(ProcessError),
    Message(String),
}

impl std::fmt::Display for HandleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandleError::Db(e) => e.fmt(f),
            HandleError::Process(e) => e.fmt(f),
            HandleError::Message(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for HandleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HandleError::Db(e) => Some(e),
            HandleError::Process(e) => Some(e),
            HandleError::Message(_) => None,
        }
    }
}

impl From<DbError> for HandleError {
    fn from(e: DbError) -> Self {
        HandleError::Db(e)
    }
}

impl From<ProcessError> for HandleError {
    fn from(e: ProcessError) -> Self {
        HandleError::Process(e)
    }
}

#[instrument_stage]
async fn store(db: &TracedPool, pipeline_id: &str, rows: &[i64]) -> Result<u64, DbError> {
    let mut tx = db.begin().await?;
    for v in rows {
        // A value out of INTEGER's range fails with SQLSTATE 22003.
        sqlx::query("INSERT INTO guide_rows (pipeline_id, value) VALUES ($1, $2::bigint::integer)")
            .bind(pipeline_id)
            .bind(*v)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    pipeline_telemetry::record_records(rows.len() as u64);
    Ok(rows.len() as u64)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    std::env::var_os("GUIDE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"))
}

async fn dbt(pipeline_id: &str) -> Result<(), ProcessError> {
    let project = root().join("tests/fixtures/dbt_project");
    let work = std::env::temp_dir().join(format!("guide_dbt_{}", std::process::id()));
    let dbt = python().with_file_name("dbt");
    let mut cmd = Command::new(dbt);
    cmd.args(["run", "--select", "good_orders", "--project-dir"])
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--target-path")
        .arg(work.join("target"))
        .arg("--log-path")
        .arg(work.join("logs"))
        .env(
            "PT_DBT_SCHEMA",
            format!(
                "guide_{}",
                pipeline_id.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
            ),
        )
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false");
    ProcessStage::new(&DBT, cmd)
        .with_timeout(Duration::from_secs(300))
        .run_async()
        .await
        .map(|_| ())
}

async fn spark(seconds: Option<String>) -> Result<(), ProcessError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(4040);
    let seconds = seconds.unwrap_or_else(|| "0.2".into());
    // The application's event log: the monitor's final read when the
    // application ended before its next poll.
    let events = std::env::temp_dir().join(format!("guide_spark_events_{}", std::process::id()));
    let _ = std::fs::create_dir_all(&events);
    let mut cmd = Command::new(python());
    cmd.arg(root().join("examples/guide_spark_job.py"))
        .args(["--ui-port", &port.to_string(), "--seconds", &seconds])
        .args(["--app-name", "guide_spark"])
        .arg("--event-log-dir")
        .arg(&events);
    let job = ProcessStage::new(&SPARK, cmd)
        .with_timeout(Duration::from_secs(600))
        .run_async();
    SparkMonitor::new(format!("http://127.0.0.1:{port}"))
        .with_event_log_dir(&events)
        .with_interval(Duration::from_millis(500))
        .watch_async(job)
        .await
        .map(|_| ())
}

async fn handle(db: &TracedPool, msg: Message) -> Result<Vec<i64>, HandleError> {
    let text = String::from_utf8_lossy(&msg.data).into_owned();
    let rows: Vec<i64> = text
        .split(',')
        .map(|v| v.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .map_err(|e| HandleError::Message(format!("not a batch: {e}")))?;
    let run = pipeline_telemetry::PipelineRun::current();
    let pipeline_id = run.as_ref().map_or("none", |r| r.pipeline_id()).to_owned();
    store(db, &pipeline_id, &rows).await?;
    let headers = msg.properties.headers().clone().unwrap_or_default();
    let header = |k: &str| {
        headers
            .inner()
            .iter()
            .find(|(n, _)| n.as_str() == k)
            .map(|(_, v)| v.clone())
    };
    if header("transform") == Some(AMQPValue::Boolean(true)) {
        let seconds = match header("spark_seconds") {
            Some(AMQPValue::LongString(s)) => Some(s.to_string()),
            _ => None,
        };
        dbt(&pipeline_id).await?;
        spark(seconds).await?;
    }
    Ok(rows)
}

/// Consumes the queue until the task is dropped.
pub(crate) async fn consume(
    channel: TracedChannel,
    queue: String,
    db: TracedPool,
) -> Result<(), lapin::Error> {
    channel.basic_qos(4, BasicQosOptions::default()).await?;
    let consumer = channel
        .basic_consume(
            queue.as_str().into(),
            "guide_worker".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    // Each delivery is a part of the run that accepted its batch.
    let worker = Worker::new(&HANDLE_BATCH, queue.as_str()).with_pipeline("guide");
    let db = &db;
    if let Err(e) = worker.consume(consumer, |msg| handle(db, msg)).await {
        eprintln!("guide_service: the worker stopped: {e}");
    }
    Ok(())
}

/// Measures how late a 10 ms ticker task runs: the longest time any task
/// kept the runtime's only thread.
pub(crate) struct PollDelay {
    max_us: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl PollDelay {
    pub(crate) fn start() -> Self {
        let max_us = Arc::new(AtomicU64::new(0));
        let max = max_us.clone();
        let task = tokio::spawn(async move {
            let tick = Duration::from_millis(10);
            loop {
                let before = Instant::now();
                tokio::time::sleep(tick).await;
                let late = before.elapsed().saturating_sub(tick);
                max.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
            }
        });
        PollDelay { max_us, task }
    }

    pub(crate) fn max_ms(&self) -> u64 {
        self.max_us.load(Ordering::Relaxed) / 1000
    }
}

impl Drop for PollDelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
