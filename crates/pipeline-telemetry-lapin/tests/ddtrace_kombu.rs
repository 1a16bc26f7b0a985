//! Interop with ddtrace-py 4.x's own kombu integration
//! (`tests/peers/ddtrace_kombu_peer.py`, `patch(kombu=True)`), both sides
//! in the same `DD_TRACE_PROPAGATION_STYLE` (`datadog`, `tracecontext`,
//! unset): our producer (`publish_traced`) to a kombu consumer, and a kombu
//! producer to our `Worker`. Each time one 128-bit trace with the receiving
//! span under the sending one, as the APM test agent received it from both
//! tracers (ddtrace's spans on its trace API, ours over OTLP, one session
//! token). `pipeline_id` crosses as W3C baggage, which ddtrace sends and
//! reads only in the default style: `datadog` and `tracecontext` carry no
//! baggage, so there the consumer's run has an id of its own.

mod common;

use std::process::Command;

use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::ddtrace::{self, DdSpan, Style};
use pipeline_telemetry_test_support::peers;
use serde_json::Value;

/// Not a test on its own: the child processes' entry point.
#[test]
fn child_role() {
    common::roles::dispatch();
}

/// Deletes the queue when the test ends, passed or failed.
struct Queue(String);

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["-q", "delete_queue", &self.0])
            .output();
    }
}

fn kombu(args: &[&str], token: &str, style: Style) -> Value {
    let out = ddtrace::peer("ddtrace_kombu_peer.py", token, style)
        .args(args)
        .output()
        .expect("run the kombu peer");
    assert!(
        out.status.success(),
        "kombu peer {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("kombu peer said {text:?}: {e}"))
}

/// Runs our producer or consumer role in a child in `style`.
fn ours(role: &str, style: Style, token: &str, queue: &str, pipeline_id: &str) {
    ddtrace::rerun_test(
        "child_role",
        style,
        &[
            (common::ROLE_VAR, role),
            ("PT_LAPIN_TOKEN", token),
            ("PT_LAPIN_QUEUE", queue),
            ("PT_LAPIN_COUNT", "1"),
            ("PT_LAPIN_PIPELINE_ID", pipeline_id),
        ],
    );
}

fn find<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} span: {spans:#?}"))
}

fn find_dd<'a>(spans: &'a [DdSpan], name: &str) -> &'a DdSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} span of ddtrace's: {spans:#?}"))
}

fn our_producer_to_kombu(style: Style) {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let token = agent::token("lapin-kombu-out");
    let queue = Queue(common::unique("kombu_out"));
    let pipeline_id = "rust-run:kombu/a=b@c+d_e.f";
    ours("produce", style, &token, &queue.0, pipeline_id);
    let got = kombu(&["consume", &peers::amqp_url(), &queue.0], &token, style);
    assert_eq!(got["name"], "kombu.receive", "{got}");
    ddtrace::assert_style_headers(style, &got["headers"], pipeline_id);

    let publish = format!("publish {}", queue.0);
    let spans = agent::poll_spans(&token, |s| s.iter().any(|s| s.name == publish));
    let send = find(&spans, &publish);
    let theirs = ddtrace::poll_dd_spans(&token, |s| s.iter().any(|s| s.name == "kombu.receive"));
    let receive = find_dd(&theirs, "kombu.receive");
    assert_eq!(receive.trace_hex(), send.trace_id, "one 128-bit trace");
    assert_eq!(receive.parent_hex(), send.span_id, "{receive:#?}");
    // ddtrace's last Datadog parent (`_dd.parent_id`, from tracestate's
    // `p`; read when W3C is the primary style) is our span too.
    let last = (style == Style::TraceContext).then_some(send.span_id.as_str());
    assert_eq!(receive.tag("_dd.parent_id"), last, "{receive:#?}");
    assert_eq!(ddtrace::id(&got["span_id"]), u128::from(receive.span_id));
    let kept = style.carries_baggage().then_some(pipeline_id);
    assert_eq!(receive.tag("baggage.pipeline_id"), kept, "{receive:#?}");
    assert_eq!(got["pipeline_id"].as_str(), kept, "{got}");
}

fn kombu_to_our_worker(style: Style) {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let token = agent::token("lapin-kombu-in");
    let queue = Queue(common::unique("kombu_in"));
    let pipeline_id = "py-run:kombu/a=b@c+d_e.f";
    let sent = kombu(
        &["publish", &peers::amqp_url(), &queue.0, pipeline_id],
        &token,
        style,
    );
    ddtrace::assert_style_headers(style, &sent["headers"], pipeline_id);
    ours("consume", style, &token, &queue.0, "unused");

    let process = format!("process {}", queue.0);
    let spans = agent::poll_spans(&token, |s| {
        s.iter().any(|s| s.name == process) && s.iter().any(|s| s.name == "pipeline.run")
    });
    let received = find(&spans, &process);
    let theirs = ddtrace::poll_dd_spans(&token, |s| s.iter().any(|s| s.name == "kombu.publish"));
    let send = find_dd(&theirs, "kombu.publish");
    assert_eq!(ddtrace::id(&sent["span_id"]), u128::from(send.span_id));
    assert_eq!(received.trace_id, send.trace_hex(), "one 128-bit trace");
    assert_eq!(
        received.parent_span_id.as_deref(),
        Some(send.span_hex().as_str())
    );
    let run = find(&spans, "pipeline.run");
    assert_eq!(run.trace_id, send.trace_hex());
    let id = received.attributes.get("pipeline_id").map(String::as_str);
    assert_eq!(
        id == Some(pipeline_id),
        style.carries_baggage(),
        "{received:#?}"
    );
    assert_eq!(run.attributes.get("pipeline_id").map(String::as_str), id);
}

#[test]
fn our_producer_to_a_kombu_consumer_in_datadog_style() {
    our_producer_to_kombu(Style::Datadog);
}

#[test]
fn our_producer_to_a_kombu_consumer_in_tracecontext_style() {
    our_producer_to_kombu(Style::TraceContext);
}

#[test]
fn our_producer_to_a_kombu_consumer_in_the_default_style() {
    our_producer_to_kombu(Style::Default);
}

#[test]
fn a_kombu_producer_to_our_worker_in_datadog_style() {
    kombu_to_our_worker(Style::Datadog);
}

#[test]
fn a_kombu_producer_to_our_worker_in_tracecontext_style() {
    kombu_to_our_worker(Style::TraceContext);
}

#[test]
fn a_kombu_producer_to_our_worker_in_the_default_style() {
    kombu_to_our_worker(Style::Default);
}
