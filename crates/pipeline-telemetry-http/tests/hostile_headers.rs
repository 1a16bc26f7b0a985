//! Requests with hostile headers (an oversized `traceparent` and
//! `baggage`, malformed ones, non-UTF-8 bytes, a huge `User-Agent`, a
//! hostile `Host`) are served normally, and each request span starts a
//! fresh trace with no parent and no `pipeline_id`, as the APM test agent
//! shows.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{attr, is_server};

/// Sends raw bytes as one HTTP/1.1 request (a client that can write
/// non-UTF-8 header values) and returns the status line.
fn raw_request(addr: std::net::SocketAddr, head: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(head).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn hostile_headers_are_served_with_a_fresh_trace() {
    let mut h = common::start("http-hostile");
    let oversized_tp = format!(
        "00-{}-00f067aa0ba902b7-01",
        "4bf92f3577b34da6a3ce929d0e0e4736".repeat(200)
    );
    let oversized_baggage = format!("pipeline_id=42,{}", "k=v,".repeat(5000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("oversized", format!(
            "GET /items/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hostile-oversized\r\ntraceparent: {oversized_tp}\r\nbaggage: {oversized_baggage}\r\nConnection: close\r\n\r\n"
        ).into_bytes()),
        ("malformed", b"GET /items/2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hostile-malformed\r\ntraceparent: 00-ZZf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: ,,,=,=\r\nbaggage: pipeline_id=42%0A%7B%22x%22%7D;;;===\r\nConnection: close\r\n\r\n".to_vec()),
        ("non-utf8", [
            &b"GET /items/3 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hostile-nonutf8\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\xff\r\nbaggage: pipeline_id=\xfe\xff42\r\n"[..],
            &b"Connection: close\r\n\r\n"[..],
        ].concat()),
    ];
    for (label, head) in &cases {
        let status = raw_request(h.addr, head);
        assert!(status.contains(" 200 "), "{label}: {status}");
    }
    // A non-UTF-8 User-Agent and a hostile Host header.
    let status = raw_request(
        h.addr,
        b"GET /health HTTP/1.1\r\nHost: evil\"host\r\nUser-Agent: \xff\xfehostile\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains(" 200 "), "{status}");
    let huge_ua = "x".repeat(8000);
    let status = raw_request(
        h.addr,
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {huge_ua}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(status.contains(" 200 "), "{status}");

    h.shutdown();
    let spans = h.spans(|s| s.iter().filter(|s| is_server(s)).count() >= 5);
    let servers: Vec<_> = spans.iter().filter(|s| is_server(s)).collect();
    assert_eq!(servers.len(), 5, "{spans:#?}");
    for s in &servers {
        assert_eq!(s.parent_span_id, None, "a fresh trace: {s:#?}");
        assert_ne!(s.trace_id, common::TRACEPARENT_TRACE);
        assert_eq!(attr(s, "pipeline_id"), None, "{s:#?}");
        assert_eq!(attr(s, "http.response.status_code"), Some("200"));
        if let Some(ua) = attr(s, "user_agent.original") {
            assert!(ua.len() <= pipeline_telemetry_http::spans::MAX_USER_AGENT_LEN);
            assert!(!ua.contains('\u{fffd}'));
        }
        if let Some(host) = attr(s, "server.address") {
            assert_eq!(host, "127.0.0.1");
        }
    }
    // The runs started in the handlers got fresh pipeline_ids, not "42".
    for run in spans.iter().filter(|s| s.name == "pipeline.run") {
        assert_ne!(attr(run, "pipeline_id"), Some("42"), "{run:#?}");
        let parent = servers
            .iter()
            .find(|s| Some(s.span_id.as_str()) == run.parent_span_id.as_deref());
        assert!(parent.is_some(), "run under its request span: {run:#?}");
    }
    let mut traces: Vec<_> = servers.iter().map(|s| s.trace_id.clone()).collect();
    traces.sort();
    traces.dedup();
    assert_eq!(traces.len(), 5, "one fresh trace per request");
}
