//! Shared by the integration tests: the test agent's address, reading back
//! what it received, an in-memory log writer, and a pipeline that emits the
//! facade's span/event contract.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::field::Empty;
use tracing::instrument::WithSubscriber;
use tracing::Instrument;
use tracing_subscriber::fmt::MakeWriter;

/// An environment variable set by `scripts/start-test-agent.sh`; fails the
/// test (never skips it) when missing.
pub fn agent_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: these tests need Datadog's APM test agent. \
             Run scripts/test-all.sh, or eval \"$(scripts/start-test-agent.sh)\" before cargo test"
        ),
    }
}

/// A session token unique to one test run.
pub fn token(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("pt-otel-{label}-{}-{nanos}", std::process::id())
}

/// The header (HTTP) / metadata key (gRPC) the test agent files requests by.
pub const TOKEN_HEADER: &str = "x-datadog-test-session-token";

fn get_json(url: &str) -> Value {
    let body = reqwest::blocking::get(url)
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// Polls the agent's OTLP session endpoint (`traces` or `logs`) until `done`
/// accepts the payloads or 15 s pass; returns the last payloads.
pub fn poll(kind: &str, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let base = agent_env("PT_OTLP_HTTP_ENDPOINT");
    let url = format!("{base}/test/session/{kind}?test_session_token={token}");
    let start = Instant::now();
    loop {
        let got = match get_json(&url) {
            Value::Array(a) => a,
            other => panic!("unexpected answer from {url}: {other}"),
        };
        if done(&got) || start.elapsed() > Duration::from_secs(15) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One exported span, flattened out of the OTLP JSON.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub attributes: HashMap<String, String>,
    pub status_code: Option<String>,
    pub status_message: Option<String>,
    pub events: Vec<(String, HashMap<String, String>)>,
    pub resource: HashMap<String, String>,
}

/// `[{key, value: {string_value | int_value | ...}}]` as a map of strings.
pub fn attributes(v: &Value) -> HashMap<String, String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            let key = kv["key"].as_str()?.to_owned();
            let value = kv["value"].as_object()?.values().next()?;
            let value = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            Some((key, value))
        })
        .collect()
}

/// The spans of every OTLP traces payload, each with its resource.
pub fn spans(payloads: &[Value]) -> Vec<Span> {
    let mut out = Vec::new();
    for p in payloads {
        for rs in p["resource_spans"].as_array().into_iter().flatten() {
            let resource = attributes(&rs["resource"]["attributes"]);
            for ss in rs["scope_spans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let id = |k: &str| s[k].as_str().filter(|v| !v.is_empty()).map(b64_hex);
                    out.push(Span {
                        trace_id: id("trace_id").unwrap_or_default(),
                        span_id: id("span_id").unwrap_or_default(),
                        parent_span_id: id("parent_span_id"),
                        name: s["name"].as_str().unwrap_or_default().to_owned(),
                        attributes: attributes(&s["attributes"]),
                        status_code: s["status"]["code"].as_str().map(str::to_owned),
                        status_message: s["status"]["message"].as_str().map(str::to_owned),
                        events: s["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|e| {
                                (
                                    e["name"].as_str().unwrap_or_default().to_owned(),
                                    attributes(&e["attributes"]),
                                )
                            })
                            .collect(),
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Protobuf JSON carries ids as base64; tests compare them as hex.
pub fn b64_hex(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut hex = String::new();
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {s}")) as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            hex.push_str(&format!("{:02x}", (bits >> n) & 0xff));
        }
    }
    hex
}

/// Datadog's `dd.trace_id`: the lower 64 bits of a 128-bit hex trace id, decimal.
pub fn dd_trace_id(hex: &str) -> String {
    u128::from_str_radix(hex, 16)
        .map(|v| (v as u64).to_string())
        .unwrap_or_else(|e| panic!("bad trace id {hex}: {e}"))
}

/// A `MakeWriter` into memory, shared with the test.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The stage span exactly as the facade emits it.
pub fn stage_span(stage: &str, pipeline: &str, id: &str) -> tracing::Span {
    tracing::info_span!(target: "pipeline_telemetry", "pipeline.stage",
        stage = %stage, pipeline = %pipeline, pipeline_id = %id,
        "operation.name" = "pipeline.stage", "resource.name" = %stage,
        otel.status_code = Empty, otel.status_message = Empty)
}

/// The run span exactly as the facade emits it.
pub fn run_span(pipeline: &str, id: &str) -> tracing::Span {
    tracing::info_span!(target: "pipeline_telemetry", "pipeline.run",
        pipeline = %pipeline, pipeline_id = %id,
        "operation.name" = "pipeline.run", "resource.name" = %pipeline)
}

/// What the facade does when a stage fails, inside the stage span.
pub fn fail_stage(span: &tracing::Span, error_type: &str, message: &str) {
    span.record("otel.status_code", "error");
    span.record("otel.status_message", message);
    // `type` is a keyword, so these keys are quoted, which the event macros
    // accept only inside braces.
    tracing::error!(target: "pipeline_telemetry",
        { "exception.type" = %error_type, "exception.message" = %message,
          "error.type" = %error_type, outcome = "failed" },
        "stage failed");
}

pub const FAILURE_TYPE: &str = "LoadError";
pub const FAILURE: &str = "warehouse said \"no\"\nconnection reset";

/// A run with three stages: `extract` (sync), `transform` (async), `load`
/// (on a spawned task, failing).
pub async fn run_pipeline(pipeline: &str, id: &str) {
    let run = run_span(pipeline, id);
    let (p, i) = (pipeline.to_owned(), id.to_owned());
    async move {
        {
            let stage = stage_span("extract", &p, &i);
            let _entered = stage.enter();
            tracing::info!(target: "pipeline_telemetry", records = 3, "extracted");
        }
        async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tracing::info!(target: "pipeline_telemetry", "transformed");
        }
        .instrument(stage_span("transform", &p, &i))
        .await;
        let load = stage_span("load", &p, &i);
        let in_task = load.clone();
        let task = async move {
            tokio::time::sleep(Duration::from_millis(2)).await;
            fail_stage(&in_task, FAILURE_TYPE, FAILURE);
        }
        .instrument(load)
        .with_current_subscriber();
        tokio::spawn(task).await.expect("spawned stage");
    }
    .instrument(run)
    .await;
}

/// A multi-thread runtime (so the spawned stage runs on another thread).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}
