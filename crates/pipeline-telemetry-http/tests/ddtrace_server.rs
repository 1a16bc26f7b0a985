//! Our traced client (`TracingMiddleware`) calls a server that ddtrace-py
//! 4.x instruments with its own WSGI middleware
//! (`tests/peers/ddtrace_wsgi_server.py`), both sides in the same
//! `DD_TRACE_PROPAGATION_STYLE` (`datadog`, `tracecontext`, unset).
//! ddtrace's `wsgi.request` span, as the APM test agent received it from
//! ddtrace, is in our run's 128-bit trace under our CLIENT span (received
//! over OTLP under the same session token). The run's `pipeline_id` reaches
//! ddtrace (its baggage, tagged `baggage.pipeline_id`) only in the default
//! style: `datadog` and `tracecontext` carry no baggage.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{fetch, is_client};
use pipeline_telemetry::PipelineRun;
use pipeline_telemetry_http::TracingMiddleware;
use pipeline_telemetry_test_support::ddtrace::{self, Style};
use serde_json::Value;

const PIPELINE_ID: &str = "run-wsgi:7/a=b@c+d_e.f";

#[test]
fn our_client_calls_a_ddtrace_server_in_datadog_style() {
    ddtrace::in_style(
        "our_client_calls_a_ddtrace_server_in_datadog_style",
        Style::Datadog,
        client_calls_ddtrace,
    );
}

#[test]
fn our_client_calls_a_ddtrace_server_in_tracecontext_style() {
    ddtrace::in_style(
        "our_client_calls_a_ddtrace_server_in_tracecontext_style",
        Style::TraceContext,
        client_calls_ddtrace,
    );
}

#[test]
fn our_client_calls_a_ddtrace_server_in_the_default_style() {
    ddtrace::in_style(
        "our_client_calls_a_ddtrace_server_in_the_default_style",
        Style::Default,
        client_calls_ddtrace,
    );
}

/// The Python server, killed if the test ends before it does.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// Waits (20 s at most) for the server to exit after its one request:
    /// ddtrace flushes its spans at exit.
    fn wait_exit(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.0.try_wait() {
                assert!(status.success(), "the ddtrace server failed: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the ddtrace server did not exit");
    }
}

fn client_calls_ddtrace(style: Style) {
    let mut h = common::start("http-ddtrace-server");
    let mut child = ddtrace::peer("ddtrace_wsgi_server.py", &h.token, style)
        .arg("1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the ddtrace server");
    let stdout = child.stdout.take().expect("stdout");
    let mut server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server's port line");
    let port: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let url = format!("http://127.0.0.1:{}/ingest", port["port"]);

    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware)
        .build();
    let body = h.rt.block_on(async {
        let run = PipelineRun::start("wsgi_caller", PIPELINE_ID);
        let body = run.scope(fetch(client, url)).await.expect("call");
        run.finish();
        body
    });
    let seen: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
    ddtrace::assert_style_headers(style, &seen["headers"], PIPELINE_ID);
    server.wait_exit();

    h.shutdown();
    let ours = h.spans(|s| s.iter().any(is_client));
    let client_span = ours
        .iter()
        .find(|s| is_client(s))
        .unwrap_or_else(|| panic!("no CLIENT span: {ours:#?}"));
    let theirs = ddtrace::poll_dd_spans(&h.token, |s| s.iter().any(|s| s.name == "wsgi.request"));
    let request = theirs
        .iter()
        .find(|s| s.name == "wsgi.request")
        .unwrap_or_else(|| panic!("ddtrace's wsgi.request span: {theirs:#?}"));
    assert_eq!(
        request.trace_hex(),
        client_span.trace_id,
        "one 128-bit trace"
    );
    assert_eq!(request.parent_hex(), client_span.span_id, "{request:#?}");
    // ddtrace's last Datadog parent (`_dd.parent_id`, from tracestate's
    // `p`; read when W3C is the primary style) is our span too.
    let last = (style == Style::TraceContext).then_some(client_span.span_id.as_str());
    assert_eq!(request.tag("_dd.parent_id"), last, "{request:#?}");
    assert_eq!(ddtrace::id(&seen["trace_id"]), request.trace_id);
    assert_eq!(ddtrace::id(&seen["span_id"]), u128::from(request.span_id));
    let kept = style.carries_baggage().then_some(PIPELINE_ID);
    assert_eq!(request.tag("baggage.pipeline_id"), kept, "{request:#?}");
    assert_eq!(seen["pipeline_id"].as_str(), kept, "{seen}");
}
