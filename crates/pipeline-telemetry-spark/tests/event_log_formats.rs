//! The event logs of the other layouts Spark writes, from a real PySpark
//! application (`local[2]`, five jobs, one failing) that ends before the
//! monitor's next poll, so that the final read finds its UI gone:
//!
//! - a rolling log (`spark.eventLog.rolling.enabled=true`, the default
//!   since Spark 4.0): a directory `eventlog_v2_<app>` of `events_<N>_<app>`
//!   files. Every job is reported once, with the durations and statuses of
//!   Spark's own record (the directory's files, read here with nothing from
//!   the crate). On the old code the directory was not looked at and no
//!   job was reported.
//! - a compressed log (`spark.eventLog.compress=true`, the default since
//!   Spark 4.0): not readable without its codec; the monitor says so once,
//!   naming the setting that turns it off, and counts it. On the old code
//!   the compressed file was "read" as a log without events: a final read
//!   counted as done (`event_log_reads` 1, application id empty), no job
//!   and no word about why.
//!
//! Needs Java 17 and the Python test peers.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline_telemetry_spark::{MonitorStats, SparkMonitor};
use pipeline_telemetry_test_support::python;
use serde_json::Value;
use support::*;

/// One JVM at a time on a small machine.
static SPARK_RUN: Mutex<()> = Mutex::new(());

fn require_java() {
    let ok = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Spark tests need Java 17 (`java` on PATH): apt-get install openjdk-17-jre-headless"
    );
}

/// Runs `spark_jobs.py --exit` named `app` with event logs in a new
/// directory and the `conf` settings, watched by a monitor whose only poll
/// before the final read comes before Spark is up; the directory and the
/// monitor's stats.
fn run_watched(app: &str, conf: &[&str]) -> (PathBuf, MonitorStats) {
    require_java();
    let _one = SPARK_RUN.lock().unwrap_or_else(|e| e.into_inner());
    let py = python::python();
    metrics();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("pt-spark-{app}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("event log dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spark_jobs.py");
    let monitor = SparkMonitor::new(format!("http://127.0.0.1:{port}"))
        .with_interval(Duration::from_secs(3600))
        .with_event_log_dir(&dir)
        .start()
        .expect("start");
    let mut cmd = Command::new(&py);
    cmd.args([script, "--app-name", app, "--master", "local[2]"])
        .args(["--ui-port", &port.to_string()])
        .arg("--event-log-dir")
        .arg(&dir)
        .arg("--exit");
    for c in conf {
        cmd.args(["--conf", c]);
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("python");
    let stats = monitor.stop().expect("stop");
    assert!(status.success(), "the PySpark application failed: {status}");
    (dir, stats)
}

/// (job tag, status tag, seconds) of every finished job of event log
/// lines, sorted.
fn from_log(log: &str) -> Vec<(String, String, f64)> {
    let events: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let mut starts = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["Event"] == "SparkListenerJobStart")
    {
        let p = &e["Properties"];
        let name = p["spark.jobGroup.id"]
            .as_str()
            .or(p["spark.job.description"].as_str())
            .unwrap_or("none")
            .replace(' ', "_");
        starts.insert(
            e["Job ID"].as_u64().expect("id"),
            (name, e["Submission Time"].as_i64().expect("start")),
        );
    }
    let mut out: Vec<_> = events
        .iter()
        .filter(|e| e["Event"] == "SparkListenerJobEnd")
        .map(|e| {
            let (name, start) = starts[&e["Job ID"].as_u64().expect("id")].clone();
            let status = if e["Job Result"]["Result"] == "JobSucceeded" {
                "succeeded"
            } else {
                "failed"
            };
            let end = e["Completion Time"].as_i64().expect("end");
            (name, status.to_owned(), (end - start) as f64 / 1000.0)
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("a dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_rolling_event_log_gives_every_job() {
    const APP: &str = "pt-spark-rolling";
    let (dir, stats) = run_watched(
        APP,
        &[
            "spark.eventLog.compress=false",
            "spark.eventLog.rolling.enabled=true",
            // Spark's smallest.
            "spark.eventLog.rolling.maxFileSize=10m",
        ],
    );
    let top = names(&dir);
    assert_eq!(top.len(), 1, "one application, one log: {top:?}");
    assert!(top[0].starts_with("eventlog_v2_"), "a rolling log: {top:?}");
    let rolling = dir.join(&top[0]);
    // Spark's record: the event files in their index order.
    let mut files: Vec<(u64, String)> = names(&rolling)
        .into_iter()
        .filter_map(|n| {
            let index = n.strip_prefix("events_")?.split('_').next()?.parse().ok()?;
            Some((index, n))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{:?}", names(&rolling));
    let log: String = files
        .iter()
        .map(|(_, n)| std::fs::read_to_string(rolling.join(n)).expect("an event file"))
        .collect();
    let truth = from_log(&log);
    assert_eq!(truth.len(), 5, "the script runs five jobs: {truth:?}");
    assert_eq!(truth.iter().filter(|t| t.1 == "failed").count(), 1);

    assert_eq!(
        (stats.event_log_reads, stats.jobs_reported),
        (1, 5),
        "{stats:?}"
    );
    let mut got = durations(APP);
    got.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    assert_eq!(got.len(), 5, "every job once: {got:?}");
    for (g, t) in got.iter().zip(&truth) {
        assert_eq!((&g.0, &g.1), (&t.0, &t.1));
        assert!((g.2 - t.2).abs() < 1e-6, "{g:?} vs Spark's {t:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Collects WARN messages.
#[derive(Clone, Default)]
struct Warnings(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut m = Message(String::new());
            event.record(&mut m);
            self.0.lock().expect("lock").push(m.0);
        }
    }
}

#[test]
fn a_compressed_event_log_is_reported_once_and_counted() {
    use tracing_subscriber::layer::SubscriberExt;
    const APP: &str = "pt-spark-compressed";
    let warnings = Warnings::default();
    let _default =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(warnings.clone()));
    let (dir, stats) = run_watched(
        APP,
        &[
            "spark.eventLog.compress=true",
            "spark.eventLog.compression.codec=lz4",
        ],
    );
    let top = names(&dir);
    assert_eq!(top.len(), 1, "one application, one log: {top:?}");
    assert!(top[0].ends_with(".lz4"), "Spark compressed it: {top:?}");

    assert_eq!(
        (
            stats.event_log_unreadable,
            stats.event_log_reads,
            stats.jobs_reported
        ),
        (1, 0, 0),
        "{stats:?}"
    );
    let logged = warnings.0.lock().expect("lock").clone();
    assert_eq!(logged.len(), 1, "one warning: {logged:?}");
    assert!(
        logged[0].contains("spark.eventLog.compress=false") && logged[0].contains("lz4"),
        "it names the codec and the setting: {logged:?}"
    );
    assert!(durations(APP).is_empty());

    // A second monitor of another such application: counted, not warned
    // about again.
    let (again, stats) = run_watched(APP, &["spark.eventLog.compress=true"]);
    assert_eq!(stats.event_log_unreadable, 1, "{stats:?}");
    let logged = warnings.0.lock().expect("lock").clone();
    assert_eq!(logged.len(), 1, "still one warning: {logged:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&again);
}
