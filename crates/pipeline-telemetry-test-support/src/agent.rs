//! Datadog's APM test agent (`ddapm-test-agent`): where it listens, and what
//! it received.
//!
//! The agent's addresses come from `PT_TEST_AGENT_URL`,
//! `PT_OTLP_HTTP_ENDPOINT` and `PT_OTLP_GRPC_ENDPOINT` when set (as
//! `scripts/test-all.sh` does); otherwise the first call starts one with
//! `scripts/start-test-agent.sh` (free loopback ports, reused by later test
//! binaries) and reads its addresses from there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The header (HTTP) / metadata key (gRPC) the test agent files requests by.
pub const TOKEN_HEADER: &str = "x-datadog-test-session-token";

/// The test agent's addresses.
#[derive(Debug, Clone)]
pub struct Agent {
    /// The trace API, e.g. `http://127.0.0.1:8126`.
    pub trace_url: String,
    /// The OTLP HTTP/protobuf receiver, e.g. `http://127.0.0.1:4318`.
    pub otlp_http: String,
    /// The OTLP gRPC receiver, e.g. `http://127.0.0.1:4317`.
    pub otlp_grpc: String,
}

/// The running test agent, started on first use if the environment names
/// none.
///
/// # Panics
/// When no agent is named and none can be started: the message says what
/// to run.
pub fn agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let (Some(trace_url), Some(otlp_http), Some(otlp_grpc)) = (
            var("PT_TEST_AGENT_URL"),
            var("PT_OTLP_HTTP_ENDPOINT"),
            var("PT_OTLP_GRPC_ENDPOINT"),
        ) {
            return Agent {
                trace_url,
                otlp_http,
                otlp_grpc,
            };
        }
        start()
    })
}

fn start() -> Agent {
    start_in(None)
}

/// `scripts/start-test-agent.sh`, its state in `dir` when given (else the
/// shared one under `target/test-agent`).
fn script(dir: Option<&Path>) -> Command {
    let root = crate::workspace_root();
    let mut cmd = Command::new(root.join("scripts/start-test-agent.sh"));
    cmd.current_dir(&root);
    if let Some(dir) = dir {
        cmd.env("PT_TEST_AGENT_DIR", dir);
    }
    cmd
}

/// A test agent of the caller's own (its state in a directory of its own,
/// started by `scripts/start-test-agent.sh` with the same checks as the
/// shared one), stopped on drop: for a process under test that sends no
/// session token, whose requests would otherwise mix with other tests'.
#[derive(Debug)]
pub struct OwnAgent {
    /// Its addresses.
    pub agent: Agent,
    dir: PathBuf,
}

impl OwnAgent {
    /// Starts one with its state in `dir`.
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn start(dir: &Path) -> Self {
        OwnAgent {
            agent: start_in(Some(dir)),
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for OwnAgent {
    fn drop(&mut self) {
        let _ = script(Some(&self.dir)).arg("--stop").output();
    }
}

fn start_in(dir: Option<&Path>) -> Agent {
    let out = script(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/start-test-agent.sh: {e}"));
    if !out.status.success() {
        panic!(
            "Datadog's APM test agent could not be started: {}\n\
             Run scripts/test-all.sh once (it installs the Python test peers), \
             or eval \"$(scripts/start-test-agent.sh)\" before cargo test",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut vars = HashMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    let get = |k: &str| {
        vars.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("scripts/start-test-agent.sh printed no {k}"))
    };
    Agent {
        trace_url: get("PT_TEST_AGENT_URL"),
        otlp_http: get("PT_OTLP_HTTP_ENDPOINT"),
        otlp_grpc: get("PT_OTLP_GRPC_ENDPOINT"),
    }
}

/// A session token unique to one test (process id and time included).
pub fn token(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("pt-{label}-{}-{nanos}", std::process::id())
}

fn get_json(url: &str) -> Value {
    let body = reqwest::blocking::get(url)
        .and_then(|r| r.error_for_status())
        .and_then(|r| r.text())
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// How long [`poll`] waits for the payloads a test expects: long enough for
/// a batch exporter's interval on a loaded 2-core machine.
const POLL_LIMIT: Duration = Duration::from_secs(30);

/// Polls the agent's OTLP session endpoint (`traces` or `logs`) until `done`
/// accepts the payloads or 30 s pass; returns the last payloads.
///
/// # Panics
/// When the agent does not answer with a JSON array.
pub fn poll(kind: &str, token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let url = format!(
        "{}/test/session/{kind}?test_session_token={token}",
        agent().otlp_http
    );
    let start = Instant::now();
    loop {
        let got = match get_json(&url) {
            Value::Array(a) => a,
            other => panic!("unexpected answer from {url}: {other}"),
        };
        if done(&got) || start.elapsed() > POLL_LIMIT {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Polls the OTLP traces of session `token` until `done` accepts the spans
/// (or 30 s pass) and returns them.
pub fn poll_spans(token: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    spans(&poll("traces", token, |p| done(&spans(p))))
}

/// One exported span, flattened out of the OTLP JSON.
#[derive(Debug, Clone)]
pub struct Span {
    /// Trace id, hex.
    pub trace_id: String,
    /// Span id, hex.
    pub span_id: String,
    /// Parent span id, hex, if any.
    pub parent_span_id: Option<String>,
    /// The span's name.
    pub name: String,
    /// The OTLP span kind as the agent reports it (e.g. `SPAN_KIND_SERVER`
    /// or a number), if any.
    pub kind: Option<String>,
    /// Attributes, values as strings.
    pub attributes: HashMap<String, String>,
    /// `STATUS_CODE_ERROR`, ... if set.
    pub status_code: Option<String>,
    /// The status message, if set.
    pub status_message: Option<String>,
    /// Events: name and attributes.
    pub events: Vec<(String, HashMap<String, String>)>,
    /// Resource attributes.
    pub resource: HashMap<String, String>,
    /// Start time, Unix nanoseconds.
    pub start_unix_nano: u128,
    /// End time, Unix nanoseconds.
    pub end_unix_nano: u128,
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

fn nanos(v: &Value) -> u128 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().map(u128::from).unwrap_or(0),
        _ => 0,
    }
}

/// The spans of every OTLP traces payload, each with its resource.
pub fn spans(payloads: &[Value]) -> Vec<Span> {
    let mut out = Vec::new();
    for p in payloads {
        for rs in p["resource_spans"].as_array().into_iter().flatten() {
            let resource = attributes(&rs["resource"]["attributes"]);
            for ss in rs["scope_spans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    out.push(span(s, &resource));
                }
            }
        }
    }
    out
}

fn span(s: &Value, resource: &HashMap<String, String>) -> Span {
    let id = |k: &str| s[k].as_str().filter(|v| !v.is_empty()).map(b64_hex);
    Span {
        trace_id: id("trace_id").unwrap_or_default(),
        span_id: id("span_id").unwrap_or_default(),
        parent_span_id: id("parent_span_id"),
        name: s["name"].as_str().unwrap_or_default().to_owned(),
        kind: match &s["kind"] {
            Value::Null => None,
            Value::String(k) => Some(k.clone()),
            other => Some(other.to_string()),
        },
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
        start_unix_nano: nanos(&s["start_time_unix_nano"]),
        end_unix_nano: nanos(&s["end_time_unix_nano"]),
    }
}

/// Protobuf JSON carries ids as base64; tests compare them as hex.
///
/// # Panics
/// When `s` is not base64.
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

/// Datadog's `dd.trace_id` of a hex trace id, as ddtrace-py 4.x writes it
/// (`format_trace_id`): 32 hex digits for a 128-bit id, decimal for one
/// that fits 64 bits.
///
/// # Panics
/// When `hex` is not a hex number.
pub fn dd_trace_id(hex: &str) -> String {
    let v = u128::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("bad trace id {hex}: {e}"));
    if v > u128::from(u64::MAX) {
        format!("{v:032x}")
    } else {
        v.to_string()
    }
}
