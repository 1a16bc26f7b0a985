//! The whole monitoring guide in one service (`examples/guide_service.rs`),
//! run as a user runs it, against the real peers: RabbitMQ, PostgreSQL, dbt,
//! PySpark on Java, Datadog's APM test agent for the spans and a DogStatsD
//! socket for the metrics.
//!
//! - one trace per run, from the caller's `traceparent` through the HTTP
//!   request, the run, the publish, the worker's part of the run, the
//!   queries, the dbt and Spark subprocess stages and the Spark jobs;
//! - every failure counted once, with one `error_type`;
//! - every key metric of the monitoring guide emitted;
//! - no layer blocks the runtime (the service runs on one thread and
//!   reports the longest stall of a 10 ms ticker);
//! - Ctrl-C in the middle of a run (SIGINT to the terminal's foreground
//!   process group) leaves no process behind.

#[path = "guide_service/procs.rs"]
mod procs;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_telemetry::testing::{parse_datagram, sum, ParsedMetric};
use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::{peers, python, UdpReceiver};

const RUN_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4001";
const BAD_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4002";
const SLOW_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4003";
const PARENT: &str = "00f067aa0ba902b7";

fn example() -> std::path::PathBuf {
    // `cargo test` builds the examples next to the test binaries.
    let exe = std::env::current_exe().expect("test binary path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("guide_service"))
        .expect("target dir");
    assert!(
        path.exists(),
        "{} not built: run cargo test",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Posts `body` with the caller's trace context; the status and answer.
fn post(port: u16, query: &str, body: &str, trace: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let res = client
        .post(format!("http://127.0.0.1:{port}/batches?{query}"))
        .header("traceparent", format!("00-{trace}-{PARENT}-01"))
        .body(body.to_owned())
        .send()
        .expect("POST /batches");
    let status = res.status().as_u16();
    (status, res.text().unwrap_or_default())
}

fn start(
    port: u16,
    metrics: &UdpReceiver,
    token: &str,
    queue: &str,
) -> (Child, BufReader<std::process::ChildStdout>) {
    use std::os::unix::process::CommandExt;
    let py = python::python();
    let mut child = Command::new(example())
        .env("PORT", port.to_string())
        .env("DATABASE_URL", peers::database_url())
        .env("AMQP_URL", peers::amqp_url())
        .env("GUIDE_QUEUE", queue)
        .env("GUIDE_PYTHON", &py)
        .env("DD_DOGSTATSD_URL", metrics.url())
        .env_remove("DD_AGENT_HOST")
        .env("DD_SERVICE", "guide")
        .env("DD_ENV", "test")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &agent::agent().otlp_http)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("{}={token}", agent::TOKEN_HEADER),
        )
        // A terminal's foreground process group of its own, to send it
        // Ctrl-C as a terminal does.
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the example");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !line.contains("listening") {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 || Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not start (its stderr shows why: run it by hand)");
        }
    }
    (child, out)
}

/// The spans of trace `trace` once `done` holds for them (several minutes at
/// most: the Spark job starts a JVM).
fn spans_of(token: &str, trace: &str, done: impl Fn(&[&Span]) -> bool) -> Vec<Span> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let all = agent::poll_spans(token, |s| {
            let mine: Vec<&Span> = s.iter().filter(|x| x.trace_id == trace).collect();
            done(&mine)
        });
        let mine: Vec<Span> = all.into_iter().filter(|x| x.trace_id == trace).collect();
        let refs: Vec<&Span> = mine.iter().collect();
        if done(&refs) || Instant::now() > deadline {
            return mine;
        }
    }
}

fn names(spans: &[&Span]) -> BTreeSet<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

fn attr<'a>(s: &'a Span, k: &str) -> Option<&'a str> {
    s.attributes.get(k).map(String::as_str)
}

#[test]
fn the_whole_guide_in_one_service() {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let metrics = UdpReceiver::bind().expect("bind a UDP socket on 127.0.0.1");
    let token = agent::token("guide");
    let queue = format!("guide_test_{}", std::process::id());
    let port = free_port();
    let (mut child, mut out) = start(port, &metrics, &token, &queue);

    // A batch that goes through every layer.
    let (status, answer) = post(port, "transform=1", "1,2,3", RUN_TRACE);
    assert_eq!(status, 202, "{answer}");
    // A batch the database refuses (out of INTEGER's range): one failure.
    let (status, answer) = post(port, "transform=0", "4,3000000000", BAD_TRACE);
    assert_eq!(status, 202, "{answer}");
    // A batch that is not one: refused at the door, one failure.
    let (status, answer) = post(port, "transform=0", "4,x", &"5".repeat(32));
    assert_eq!(status, 400, "{answer}");

    let run = spans_of(&token, RUN_TRACE, |s| {
        s.iter()
            .any(|x| x.name == "pipeline.stage" && attr(x, "stage") == Some("spark"))
            && s.iter()
                .any(|x| x.name == "pipeline.stage" && attr(x, "stage") == Some("handle_batch"))
    });
    let run: Vec<&Span> = run.iter().collect();
    let stages: BTreeSet<&str> = run
        .iter()
        .filter(|s| s.name == "pipeline.stage")
        .filter_map(|s| attr(s, "stage"))
        .collect();
    for want in ["parse", "publish", "handle_batch", "store", "dbt", "spark"] {
        assert!(
            stages.contains(want),
            "stage {want} missing from the run's trace: {stages:?}\n{:?}",
            names(&run)
        );
    }
    let kinds: BTreeSet<String> = run.iter().filter_map(|s| s.kind.clone()).collect();
    for want in [
        "SPAN_KIND_SERVER",
        "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
        "SPAN_KIND_CLIENT",
    ] {
        assert!(
            kinds.contains(want),
            "no {want} span in the run's trace: {:?}",
            names(&run)
        );
    }
    let ids: BTreeSet<&str> = run.iter().filter_map(|s| attr(s, "pipeline_id")).collect();
    assert_eq!(ids.len(), 1, "one pipeline_id across the run: {ids:?}");
    // The request span continues the caller's span.
    assert!(
        run.iter()
            .any(|s| s.parent_span_id.as_deref() == Some(PARENT)),
        "no span is a child of the caller's span"
    );

    // Ctrl-C in the middle of a run: the Spark job is running.
    let (status, answer) = post(port, "transform=1&spark_seconds=120", "7,8", SLOW_TRACE);
    assert_eq!(status, 202, "{answer}");
    let started = Instant::now();
    let descendants = loop {
        let d = procs::descendants(child.id());
        if d.iter().any(|p| p.cmdline.contains("guide_spark_job.py"))
            && d.iter().any(|p| p.cmdline.contains("java"))
        {
            break d;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the slow Spark job never started: {d:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // What a terminal does on Ctrl-C: SIGINT to its foreground group.
    procs::interrupt_group(child.id());
    let exit_deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > exit_deadline {
            let _ = child.kill();
            panic!("the service did not stop within 60 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "the service exits cleanly on Ctrl-C: {status}"
    );
    let left = procs::still_alive(&descendants, Duration::from_secs(10));
    assert!(left.is_empty(), "processes outlived the service: {left:?}");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut out, &mut rest);
    let delay: u64 = rest
        .lines()
        .find_map(|l| l.strip_prefix("max poll delay: "))
        .and_then(|v| v.trim_end_matches(" ms").parse().ok())
        .unwrap_or_else(|| panic!("the service reported no poll delay: {rest}"));
    // A layer that blocked (a guard's drop, a synchronous file read, a
    // process-group wait) stalls the only thread for seconds.
    assert!(
        delay < 1_000,
        "the runtime's only thread stalled {delay} ms"
    );

    // Metrics: everything the service sent, now that it is gone.
    let mut m: Vec<ParsedMetric> = Vec::new();
    for d in metrics.drain(Duration::from_millis(500)) {
        let text = std::str::from_utf8(&d).expect("utf-8");
        m.extend(parse_datagram(text).unwrap_or_else(|e| panic!("unparseable: {e}")));
    }
    let guide = [("pipeline", "guide")];
    assert_eq!(
        sum(&m, "pipeline.runs", &guide),
        4.0,
        "one run per accepted batch"
    );
    let errors: Vec<(String, String, f64)> = m
        .iter()
        .filter(|p| p.name == "pipeline.errors")
        .map(|p| {
            (
                p.tag("stage").unwrap_or("").to_owned(),
                p.tag("error_type").unwrap_or("").to_owned(),
                p.values.iter().sum::<f64>(),
            )
        })
        .collect();
    let count = |stage: &str| -> f64 { errors.iter().filter(|e| e.0 == stage).map(|e| e.2).sum() };
    assert_eq!(
        count("store"),
        1.0,
        "the refused batch counts once: {errors:?}"
    );
    // The SQLSTATE's class names it (22003 is a data exception), on the
    // metric and on every span that carries the failure.
    const REFUSED: &str = "sqlstate_class_22_data_exception";
    assert!(
        errors.iter().any(|e| e.0 == "store" && e.1 == REFUSED),
        "{errors:?}"
    );
    let bad = spans_of(&token, BAD_TRACE, |s| {
        s.iter()
            .any(|x| x.name == "pipeline.stage" && attr(x, "stage") == Some("handle_batch"))
    });
    let failed: Vec<(&str, Option<&str>)> = bad
        .iter()
        .filter(|s| {
            s.name == "pipeline.stage" && s.status_code.as_deref() == Some("STATUS_CODE_ERROR")
        })
        .map(|s| (attr(s, "stage").unwrap_or(""), attr(s, "error.type")))
        .collect();
    assert!(
        failed.iter().any(|f| f.0 == "store") && failed.iter().any(|f| f.0 == "handle_batch"),
        "the failure is on the store stage and passed on by the worker's: {failed:?}"
    );
    assert!(
        failed.iter().all(|f| f.1 == Some(REFUSED)),
        "one error_type on every span of the failure: {failed:?}"
    );
    assert_eq!(count("parse"), 1.0, "the bad batch counts once: {errors:?}");
    assert_eq!(
        count("handle_batch"),
        0.0,
        "no second count by the worker: {errors:?}"
    );
    // The interrupted part ends cancelled: counted once, for the run.
    let total: f64 = errors.iter().map(|e| e.2).sum();
    assert!(total <= 3.0, "one count per failure: {errors:?}");
    for (metric, tags) in [
        ("pipeline.stage.duration", vec![("stage", "dbt")]),
        ("pipeline.stage.duration", vec![("stage", "spark")]),
        ("prefect.flow.duration", vec![("flow", "guide")]),
        ("rabbitmq.queue.length", vec![("queue", queue.as_str())]),
        ("spark.job.duration", vec![]),
        ("pipeline.records", vec![("stage", "store")]),
    ] {
        assert!(
            m.iter()
                .any(|p| p.name == metric && tags.iter().all(|(k, v)| p.tag(k) == Some(v))),
            "{metric}{tags:?} was never sent"
        );
    }
}
