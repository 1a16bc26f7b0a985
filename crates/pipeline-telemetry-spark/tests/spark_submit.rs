//! The documented way to watch a `spark-submit` application loses no job:
//! `watch()` around a process that runs a real PySpark application
//! (`local[2]`, five jobs, one failing) to its end. The application stops
//! as soon as its jobs ran, taking its UI with it, before the monitor's
//! next poll (an hour away): the final read finds the REST API gone and
//! reads the jobs from the application's event log. Every job is reported
//! once, with the durations and statuses of Spark's own record (the event
//! log, read here with nothing from the crate), and as a span under the
//! stage (the failed job with the event log's failure reason).
//!
//! On the old code the final read failed with the UI and none of the five
//! jobs was reported. Needs Java 17 and the Python test peers.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_otel::{OtelBuilder, Protocol, TracesExport};
use pipeline_telemetry_spark::SparkMonitor;
use pipeline_telemetry_test_support::agent::{self, TOKEN_HEADER};
use pipeline_telemetry_test_support::python;
use serde_json::Value;
use support::*;

const APP: &str = "pt-spark-submit";
static SPARK: Stage = Stage::new("spark");

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
    let token = agent::token("spark-submit");
    let otel = OtelBuilder::new("pt-spark-submit-test")
        .with_endpoint(&agent::agent().otlp_http)
        .with_protocol(Protocol::HttpProtobuf)
        .with_header(TOKEN_HEADER, &token)
        .with_traces(TracesExport::Otlp)
        .install()
        .expect("otel");
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

    let run = PipelineRun::start("spark_submit_pipeline", "1");
    let status = run
        .in_scope(|| {
            SPARK.run(|| {
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
                    });
                status
            })
        })
        .expect("python");
    run.finish();
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

    // The spans: one per job under the stage, the failed one with the
    // reason its failed stage has in the event log.
    otel.shutdown(Duration::from_secs(10))
        .expect("spans exported");
    let spans = agent::poll_spans(&token, |s| {
        s.iter().filter(|s| s.name == "spark.job").count() >= 5
    });
    let stage = spans
        .iter()
        .find(|s| {
            s.name == "pipeline.stage"
                && s.attributes.get("stage").map(String::as_str) == Some("spark")
        })
        .unwrap_or_else(|| panic!("the spark stage span: {spans:#?}"));
    let jobs: Vec<_> = spans.iter().filter(|s| s.name == "spark.job").collect();
    assert_eq!(jobs.len(), 5, "{jobs:#?}");
    assert!(jobs
        .iter()
        .all(|s| s.parent_span_id.as_ref() == Some(&stage.span_id)));
    let failed: Vec<_> = jobs
        .iter()
        .filter(|s| s.status_code.as_deref() == Some("STATUS_CODE_ERROR"))
        .collect();
    assert_eq!(failed.len(), 1, "{jobs:#?}");
    let reason = &failed[0].attributes["spark.job.failure_reason"];
    assert!(reason.contains("ZeroDivisionError"), "{reason}");
    let logged_reasons: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["Event"] == "SparkListenerStageCompleted")
        .filter_map(|e| {
            e["Stage Info"]["Failure Reason"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(
        logged_reasons
            .iter()
            .any(|r| r.starts_with(reason.as_str())),
        "the reason is the event log's: {reason}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
