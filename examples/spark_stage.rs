//! A `spark` stage that runs a small PySpark application in local mode as a
//! subprocess (as a pipeline would run `spark-submit`), with the Spark
//! monitor attached: each Spark job's duration (`spark.job.duration`), the
//! active executors (`spark.executors.active`) and one backdated
//! `spark.job` span per job under the stage's span.
//!
//! Needs Java 17 and PySpark (`pip install pyspark==3.5.7`, or
//! `scripts/setup-peers.sh`, which installs it in `.venv`); says so and
//! exits otherwise. `PYSPARK_PYTHON` picks the Python.
//!
//! With no Agent configured it prints the DogStatsD lines it would send
//! (`init`'s console fallback) and the spans on stderr. Point it at an Agent with `DD_AGENT_HOST=<host>` or
//! `DD_DOGSTATSD_URL=udp://<host>:8125` and
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://<host>:4317`.
//!
//! ```text
//! cargo run --example spark_stage
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage, TelemetryBuilder};
use pipeline_telemetry_spark::{MonitorStats, SparkMonitor};

static SPARK: Stage = Stage::new("spark");

/// The PySpark application: a few jobs, one failing; it keeps its UI up
/// until told to stop, so that the monitor's final read sees every job.
const SCRIPT: &str = "crates/pipeline-telemetry-spark/tests/fixtures/spark_jobs.py";

#[derive(Debug)]
enum SparkStageError {
    Launch(std::io::Error),
    Protocol(String),
    Monitor(String),
}

impl std::fmt::Display for SparkStageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Launch(e) => write!(f, "launching the Spark application: {e}"),
            Self::Protocol(s) => write!(f, "the Spark application said: {s}"),
            Self::Monitor(s) => write!(f, "the Spark monitor: {s}"),
        }
    }
}

impl std::error::Error for SparkStageError {}

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|p| p.join(SCRIPT).is_file())
        .unwrap_or(here)
        .to_path_buf()
}

/// A Python that imports `pyspark`, and Java: or why not.
fn find_pyspark(root: &Path) -> Result<PathBuf, String> {
    let java = Command::new("java")
        .arg("-version")
        .stderr(Stdio::null())
        .status();
    if !java.is_ok_and(|s| s.success()) {
        return Err("Java 17 is not on PATH (e.g. apt-get install openjdk-17-jre-headless)".into());
    }
    let candidates = [
        std::env::var_os("PYSPARK_PYTHON").map(PathBuf::from),
        Some(root.join(".venv/bin/python")).filter(|p| p.is_file()),
        Some(PathBuf::from("python3")),
    ];
    for python in candidates.into_iter().flatten() {
        let ok = Command::new(&python)
            .args(["-c", "import pyspark"])
            .stderr(Stdio::null())
            .status();
        if ok.is_ok_and(|s| s.success()) {
            return Ok(python);
        }
    }
    Err(
        "no Python with PySpark found: pip install pyspark==3.5.7 (or run scripts/setup-peers.sh)"
            .into(),
    )
}

fn next_line(out: &mut BufReader<ChildStdout>, want: &str) -> Result<Vec<String>, SparkStageError> {
    let mut line = String::new();
    out.read_line(&mut line).map_err(SparkStageError::Launch)?;
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if words.first().map(String::as_str) == Some(want) {
        Ok(words)
    } else {
        Err(SparkStageError::Protocol(format!(
            "expected {want}, got {line:?}"
        )))
    }
}

/// The stage's work: run the application, the monitor attached from the
/// moment its UI is up until its jobs are done.
fn run_spark(python: &Path, root: &Path) -> Result<MonitorStats, SparkStageError> {
    let mut child: Child = Command::new(python)
        .arg(root.join(SCRIPT))
        .args(["--app-name", "spark-stage-example"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(SparkStageError::Launch)?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| SparkStageError::Protocol("no stdout".into()))?;
    let mut out = BufReader::new(stdout);
    let started = next_line(&mut out, "STARTED")?;
    let ui = started.get(1).cloned().unwrap_or_default();
    eprintln!("Spark UI at {ui}");
    let monitor = SparkMonitor::new(ui)
        .with_interval(Duration::from_secs(1))
        .start()
        .map_err(|e| SparkStageError::Monitor(e.to_string()))?;
    next_line(&mut out, "READY")?;
    // Stop (with a final read) before the application takes its UI down.
    let stats = monitor
        .stop()
        .map_err(|e| SparkStageError::Monitor(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    let _ = child.wait();
    Ok(stats)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace_root();
    let python = match find_pyspark(&root) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("spark_stage: not running the Spark example: {why}");
            return Ok(());
        }
    };
    // Metrics to the Agent the environment names, else printed on stderr
    // (`init`'s console fallback).
    let mut builder = TelemetryBuilder::from_env();
    if std::env::var_os("DD_SERVICE").is_none() {
        builder = builder.with_service("spark-example");
    }
    let telemetry = builder.init()?;

    let run = PipelineRun::start("spark_example", "1");
    let result = run.in_scope(|| SPARK.run(|| run_spark(&python, &root)));
    run.finish();
    drop(telemetry); // flushes metrics and spans
    match result {
        Ok(stats) => eprintln!(
            "spark stage done: {} Spark jobs reported, {} active executors (driver excluded)",
            stats.jobs_reported,
            stats.executors_active.unwrap_or(0)
        ),
        Err(e) => eprintln!("spark stage failed: {e}"),
    }
    Ok(())
}
