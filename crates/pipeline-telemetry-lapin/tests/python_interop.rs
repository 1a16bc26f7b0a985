//! Interop with a RabbitMQ client nobody here wrote (Python's `pika`): a
//! pika producer's `traceparent` + `baggage` are continued by our worker
//! (checked in Datadog's APM test agent), and our producer's headers are
//! found by a pika consumer.

mod common;

use std::process::Command;

use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::{peers, python};

/// Not a test on its own: the child processes' entry point.
#[test]
fn child_role() {
    common::roles::dispatch();
}

fn pika(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pika_peer.py");
    let out = Command::new(python::python())
        .arg(script)
        .args(args)
        .output()
        .expect("run the pika peer");
    assert!(
        out.status.success(),
        "pika peer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn child_env<'a>(
    token: &'a str,
    queue: &'a str,
    agent: &'a agent::Agent,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("PT_LAPIN_TOKEN", token),
        ("PT_LAPIN_QUEUE", queue),
        ("PT_LAPIN_COUNT", "1"),
        ("PT_TEST_AGENT_URL", agent.trace_url.as_str()),
        ("PT_OTLP_HTTP_ENDPOINT", agent.otlp_http.as_str()),
        ("PT_OTLP_GRPC_ENDPOINT", agent.otlp_grpc.as_str()),
    ]
}

/// 16 or 32 random-looking lower-case hex digits (time and pid based).
fn hex_id(len: usize, salt: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(1);
    let x = (nanos as u64)
        ^ (u64::from(std::process::id()) << 32)
        ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let s = format!("{x:016x}{:016x}", x.rotate_left(17) | 1);
    s[..len].to_owned()
}

#[test]
fn our_worker_continues_a_pika_producers_trace() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let agent = agent::agent();
    let token = agent::token("lapin-pika-in");
    let queue = common::unique("pika_in");
    let trace_id = hex_id(32, 1);
    let parent_id = hex_id(16, 2);
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    pika(&[
        "publish",
        &peers::amqp_url(),
        &queue,
        &traceparent,
        "pipeline_id=py-run-7,team=data",
    ]);
    common::run_child("consume", &child_env(&token, &queue, agent));

    let spans = agent::poll_spans(&token, |s| s.iter().any(|s| s.name.starts_with("process ")));
    let process: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == format!("process {queue}"))
        .collect();
    assert_eq!(process.len(), 1, "{spans:#?}");
    let p = process[0];
    assert_eq!(p.trace_id, trace_id, "the pika producer's trace goes on");
    assert_eq!(p.parent_span_id.as_deref(), Some(parent_id.as_str()));
    assert_eq!(p.attributes["pipeline_id"], "py-run-7");
    assert_eq!(p.attributes["messaging.message.id"], "py-1");
    let run = spans
        .iter()
        .find(|s| s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("the delivery's run: {spans:#?}"));
    assert_eq!(run.trace_id, trace_id);
    assert_eq!(run.attributes["pipeline_id"], "py-run-7");
}

#[test]
fn a_pika_consumer_finds_our_producers_headers() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let agent = agent::agent();
    let token = agent::token("lapin-pika-out");
    let queue = common::unique("pika_out");
    let mut env = child_env(&token, &queue, agent);
    env.push(("PT_LAPIN_PIPELINE_ID", "rust-run-9"));
    common::run_child("produce", &env);

    let out = pika(&["consume", &peers::amqp_url(), &queue]);
    let got: serde_json::Value = serde_json::from_str(out.trim()).expect("pika peer prints JSON");
    let headers = &got["headers"];
    let traceparent = headers["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("traceparent: {got}"));
    let baggage = headers["baggage"]
        .as_str()
        .unwrap_or_else(|| panic!("baggage: {got}"));
    assert!(
        baggage
            .split(',')
            .any(|kv| kv.trim() == "pipeline_id=rust-run-9"),
        "{baggage}"
    );

    let spans = agent::poll_spans(&token, |s| s.iter().any(|s| s.name.starts_with("publish ")));
    let send = spans
        .iter()
        .find(|s| s.name == format!("publish {queue}"))
        .unwrap_or_else(|| panic!("the PRODUCER span: {spans:#?}"));
    assert_eq!(
        traceparent,
        format!("00-{}-{}-01", send.trace_id, send.span_id),
        "the header names the PRODUCER span"
    );
}
