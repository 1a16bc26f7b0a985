//! A real Spark (PySpark from PyPI, `local-cluster` mode: a driver and two
//! executor JVMs) runs a few jobs, one failing,
//! inside a `spark` stage with the monitor attached. What the monitor sent
//! is compared with what Spark's own REST API reports: the DogStatsD lines
//! on a real UDP socket, and the spans in Datadog's APM test agent.
//! Needs Java 17 and the Python test peers; fails loudly without them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_dogstatsd::parse::parse_datagram;
use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, Target};
use pipeline_telemetry_otel::{OtelBuilder, Protocol, TracesExport};
use pipeline_telemetry_spark::SparkMonitor;
use pipeline_telemetry_test_support::agent::{self, TOKEN_HEADER};
use pipeline_telemetry_test_support::{python, UdpReceiver};
use serde_json::Value;

static SPARK: Stage = Stage::new("spark");
const APP: &str = "pt-spark-it";
/// Two real executors beside the driver (separate JVMs), so that the
/// executor gauge has something to count; local mode (driver only, gauge 0)
/// is covered by the recorded fixtures.
const MASTER: &str = "local-cluster[2,1,1024]";

fn get(url: &str) -> Value {
    let body = reqwest::blocking::get(url)
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

/// Spark's `2024-05-01T12:34:56.789GMT` as Unix milliseconds, read here
/// with nothing from the crate under test.
fn unix_millis(s: &str) -> i64 {
    let (date, time) = s.trim_end_matches("GMT").split_once('T').expect("T");
    let d: Vec<i64> = date.split('-').map(|x| x.parse().expect("date")).collect();
    let (hms, ms) = time.split_once('.').expect("ms");
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().expect("time")).collect();
    // Days from civil (Hinnant).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + ms.parse::<i64>().expect("ms")
}

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

#[test]
fn a_real_spark_application_is_reported_as_its_api_says() {
    require_java();
    let py = python::python();
    let receiver = UdpReceiver::bind().expect("udp");
    let _metrics = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
        .with_origin_detection(false)
        .install()
        .expect("dogstatsd");
    let token = agent::token("spark");
    let otel = OtelBuilder::new("pt-spark-test")
        .with_endpoint(&agent::agent().otlp_http)
        .with_protocol(Protocol::HttpProtobuf)
        .with_header(TOKEN_HEADER, &token)
        .with_traces(TracesExport::Otlp)
        .install()
        .expect("otel");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spark_jobs.py");
    let mut child = Command::new(&py)
        .args([script, "--app-name", APP, "--master", MASTER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python");
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line.split_whitespace().map(str::to_owned).collect());
        }
    });
    let line = |want: &str| -> Vec<String> {
        let got = rx
            .recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|e| panic!("no {want} line from the PySpark script: {e}"));
        assert_eq!(got.first().map(String::as_str), Some(want), "{got:?}");
        got
    };
    let started = line("STARTED");
    let (ui, app_id) = (started[1].clone(), started[2].clone());
    assert!(ui.starts_with("http://127.0.0.1:"), "{ui}");

    let run = PipelineRun::start("spark_pipeline", "7");
    let (jobs, executors, stats) = run
        .in_scope(|| {
            SPARK.run(|| {
                let monitor = SparkMonitor::new(&ui)
                    .with_interval(Duration::from_millis(300))
                    .start()
                    .expect("monitor");
                line("READY");
                let base = format!("{ui}/api/v1/applications/{app_id}");
                let jobs = get(&format!("{base}/jobs"));
                let executors = get(&format!("{base}/executors"));
                let stats = monitor.stop().expect("stop");
                Ok::<_, std::io::Error>((jobs, executors, stats))
            })
        })
        .expect("the stage");
    run.finish();
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"\n")
        .expect("stop spark");
    line("STOPPED");
    let _ = child.wait();

    // Spark's own view.
    let jobs = jobs.as_array().expect("jobs").clone();
    assert_eq!(jobs.len(), 5, "the script runs five jobs: {jobs:#?}");
    assert!(jobs
        .iter()
        .all(|j| j["status"] == "SUCCEEDED" || j["status"] == "FAILED"));
    let truth: HashMap<String, (&str, i64, i64, i64)> = jobs
        .iter()
        .map(|j| {
            let name = j["jobGroup"]
                .as_str()
                .or(j["description"].as_str())
                .expect("named");
            let status = if j["status"] == "FAILED" {
                "failed"
            } else {
                "succeeded"
            };
            let start = unix_millis(j["submissionTime"].as_str().expect("start"));
            let end = unix_millis(j["completionTime"].as_str().expect("end"));
            (
                name.replace(' ', "_"),
                (status, start, end, j["jobId"].as_i64().expect("id")),
            )
        })
        .collect();
    assert_eq!(truth.values().filter(|t| t.0 == "failed").count(), 1);
    let remote_executors = executors
        .as_array()
        .expect("executors")
        .iter()
        .filter(|e| e["id"] != "driver" && e["isActive"] != false)
        .count();
    assert_eq!(remote_executors, 2, "{executors:#?}");
    assert_eq!(stats.jobs_reported, 5, "{stats:?}");
    assert_eq!(stats.executors_active, Some(remote_executors as u64));

    // The wire.
    let is_duration = |l: &str| l.starts_with("spark.job.duration:");
    let count = |lines: &[String]| -> usize {
        lines
            .iter()
            .filter(|l| is_duration(l))
            .map(|l| parse_datagram(l).map(|m| m[0].values.len()).unwrap_or(0))
            .sum()
    };
    let lines = receiver.lines_until(Duration::from_secs(20), |l| {
        count(l) >= 5 && l.iter().any(|l| l.starts_with("spark.executors.active:"))
    });
    let mut samples = Vec::new();
    for l in lines.iter().filter(|l| is_duration(l)) {
        for m in parse_datagram(l).unwrap_or_else(|e| panic!("{l}: {e}")) {
            assert_eq!(m.tag("app_name"), Some(APP), "{l}");
            for v in &m.values {
                samples.push((
                    m.tag("job").expect("job").to_owned(),
                    m.tag("status").expect("status").to_owned(),
                    *v,
                ));
            }
        }
    }
    assert_eq!(samples.len(), jobs.len(), "one sample per job: {samples:?}");
    for (job, status, secs) in &samples {
        let (want_status, start, end, _) = truth
            .get(job)
            .unwrap_or_else(|| panic!("job tag {job}: {truth:?}"));
        assert_eq!(status, want_status, "{job}");
        let want = (end - start) as f64 / 1000.0;
        assert!(
            (secs - want).abs() < 1e-6,
            "{job}: {secs} s vs the API's {want} s"
        );
    }
    let gauges: Vec<f64> = lines
        .iter()
        .filter(|l| l.starts_with("spark.executors.active:"))
        .flat_map(|l| parse_datagram(l).unwrap_or_default())
        .filter(|m| m.tag("app_name") == Some(APP))
        .flat_map(|m| m.values)
        .collect();
    // Executors may still be registering at the first polls: never more
    // than Spark has, and the final read sees them all.
    assert!(!gauges.is_empty(), "{lines:?}");
    assert!(
        gauges.iter().all(|v| *v <= remote_executors as f64),
        "{gauges:?}"
    );
    assert_eq!(
        gauges.last().copied(),
        Some(remote_executors as f64),
        "{gauges:?}"
    );

    // The trace.
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
    let job_spans: Vec<_> = spans.iter().filter(|s| s.name == "spark.job").collect();
    assert_eq!(job_spans.len(), 5, "{job_spans:#?}");
    for s in job_spans {
        assert_eq!(s.trace_id, stage.trace_id);
        assert_eq!(
            s.parent_span_id.as_ref(),
            Some(&stage.span_id),
            "under the stage span"
        );
        let (name, &(status, start, end, _)) = truth
            .iter()
            .find(|(_, t)| t.3.to_string() == s.attributes["spark.job.id"])
            .unwrap_or_else(|| panic!("a job Spark knows: {s:#?}"));
        assert_eq!(s.attributes["resource.name"].replace(' ', "_"), *name);
        assert_eq!(s.start_unix_nano, start as u128 * 1_000_000, "{s:#?}");
        assert_eq!(s.end_unix_nano, end as u128 * 1_000_000, "{s:#?}");
        if status == "failed" {
            assert_eq!(s.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
            let msg = s.status_message.as_deref().unwrap_or("");
            assert!(msg.starts_with("Job aborted due to stage failure"), "{msg}");
            assert!(s.attributes["spark.job.failure_reason"].contains("ZeroDivisionError"));
            // How many tasks fail before Spark aborts the stage depends on
            // scheduling, and tasks still running when the job is aborted
            // can fail after it ended: Spark's own count for this job, read
            // after the monitor reported it, only grows. The span carries
            // the count Spark gave when the monitor saw the job end.
            let api_job = jobs
                .iter()
                .find(|j| {
                    j["jobId"].as_i64().map(|id| id.to_string()).as_ref()
                        == s.attributes.get("spark.job.id")
                })
                .expect("the failed job in Spark's answer");
            let failed_tasks = api_job["numFailedTasks"].as_u64().expect("numFailedTasks");
            assert!(failed_tasks >= 1, "{api_job:#?}");
            let reported: u64 = s.attributes["spark.job.tasks.failed"]
                .parse()
                .expect("a count");
            assert!(
                (1..=failed_tasks).contains(&reported),
                "reported {reported} failed tasks, Spark now counts {failed_tasks}"
            );
        } else {
            assert_ne!(s.status_code.as_deref(), Some("STATUS_CODE_ERROR"));
        }
    }
}
