//! The documented way to watch a `spark-submit` application loses no job:
//! `watch()` around a process that runs a real PySpark application
//! (`local[2]`, five jobs, one failing) to its end. The application stops
//! as soon as its jobs ran, taking its UI with it, before the monitor's
//! next poll (an hour away): the final read finds the REST API gone and
//! reads the jobs from the application's event log. Every job is reported
//! once, with the durations and statuses of Spark's own record (the event
//! log, read here with nothing from the crate).
//!
//! On the old code the final read failed with the UI and none of the five
//! jobs was reported. Needs Java 17 and the Python test peers.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline_telemetry_spark::SparkMonitor;
use pipeline_telemetry_test_support::python;
use serde_json::Value;
use support::*;

const APP: &str = "pt-spark-submit";

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

/// (job tag, status tag, seconds) of every finished job of an event log,
/// sorted.
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

#[test]
fn watch_loses_no_job_of_an_application_that_ends_before_the_next_poll() {
    require_java();
    let py = python::python();
    metrics();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("pt-spark-events-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("event log dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spark_jobs.py");

    let status = SparkMonitor::new(format!("http://127.0.0.1:{port}"))
        .with_interval(Duration::from_secs(3600))
        .with_event_log_dir(&dir)
        .watch(|| {
            Command::new(&py)
                .args([script, "--app-name", APP, "--master", "local[2]"])
                .args(["--ui-port", &port.to_string()])
                .arg("--event-log-dir")
                .arg(&dir)
                .arg("--exit")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("python")
        });
    assert!(status.success(), "the PySpark application failed: {status}");

    let logs: Vec<_> = std::fs::read_dir(&dir)
        .expect("the event log dir")
        .filter_map(Result::ok)
        .collect();
    assert_eq!(logs.len(), 1, "one application, one finished log");
    let log = std::fs::read_to_string(logs[0].path()).expect("the event log");
    let truth = from_log(&log);
    assert_eq!(truth.len(), 5, "the script runs five jobs: {truth:?}");
    assert_eq!(truth.iter().filter(|t| t.1 == "failed").count(), 1);

    let mut got = durations(APP);
    got.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    assert_eq!(got.len(), 5, "every job once: {got:?}");
    for (g, t) in got.iter().zip(&truth) {
        assert_eq!((&g.0, &g.1), (&t.0, &t.1));
        assert!((g.2 - t.2).abs() < 1e-6, "{g:?} vs Spark's {t:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
