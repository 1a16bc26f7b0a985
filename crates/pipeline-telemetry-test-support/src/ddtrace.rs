//! ddtrace-py peers (`tests/peers/ddtrace_*.py`) whose spans go to the APM
//! test agent, and the propagation styles the interop tests run in.
//!
//! ddtrace's spans are filed under a session token as ours are: its trace
//! writer sends the `_DD_TRACE_WRITER_ADDITIONAL_HEADERS` of its
//! environment (`X-Datadog-Test-Session-Token:<token>`, read by ddtrace
//! 4.x's `ddtrace/internal/utils/formats.py`, `get_test_session_token`),
//! and [`poll_dd_spans`] reads them back from the agent's trace API
//! (`/test/session/traces`), where ours arrive over OTLP.
//!
//! Both sides read the styles from the same variable,
//! `DD_TRACE_PROPAGATION_STYLE`: [`Style::apply`] sets it on a command (or
//! removes it, and its `_INJECT` / `_EXTRACT` forms, for the default), and
//! [`rerun_test`] runs one test of this test binary in a child process with
//! it, since our side reads the styles once per process.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::agent;

/// The variable naming the styles on both sides.
pub const STYLE_VAR: &str = "DD_TRACE_PROPAGATION_STYLE";

/// Set in a child started by [`rerun_test`]: the test body runs there.
pub const CHILD_VAR: &str = "PT_DDTRACE_STYLE_CHILD";

/// One column of the interop matrix: the propagation styles of both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `datadog`: `x-datadog-*` headers only (no W3C baggage).
    Datadog,
    /// `tracecontext`: `traceparent` and `tracestate` only (no baggage).
    TraceContext,
    /// Unset: ddtrace 4.x's default, `datadog,tracecontext,baggage`.
    Default,
}

impl Style {
    /// The value of [`STYLE_VAR`], `None` for the default (unset).
    pub fn value(self) -> Option<&'static str> {
        match self {
            Style::Datadog => Some("datadog"),
            Style::TraceContext => Some("tracecontext"),
            Style::Default => None,
        }
    }

    /// True when the style carries W3C baggage (and so `pipeline_id`).
    pub fn carries_baggage(self) -> bool {
        self == Style::Default
    }

    /// Sets [`STYLE_VAR`] on `cmd`, or removes it (and the specific forms)
    /// for the default.
    pub fn apply(self, cmd: &mut Command) -> &mut Command {
        for specific in ["_INJECT", "_EXTRACT"] {
            cmd.env_remove(format!("{STYLE_VAR}{specific}"));
        }
        match self.value() {
            Some(v) => cmd.env(STYLE_VAR, v),
            None => cmd.env_remove(STYLE_VAR),
        }
    }
}

/// Environment for a ddtrace-py process: spans to the test agent under
/// `token`, `pipeline_id` baggage tagged on the spans as
/// `baggage.pipeline_id` (`DD_TRACE_BAGGAGE_TAG_KEYS`), no telemetry, no
/// remote configuration: nothing leaves the machine.
///
/// # Panics
/// When no test agent runs or can be started.
pub fn peer_env(token: &str) -> Vec<(String, String)> {
    [
        ("DD_TRACE_AGENT_URL", agent::agent().trace_url.clone()),
        (
            "_DD_TRACE_WRITER_ADDITIONAL_HEADERS",
            format!("X-Datadog-Test-Session-Token:{token}"),
        ),
        ("DD_TRACE_BAGGAGE_TAG_KEYS", "pipeline_id".to_owned()),
        ("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false".to_owned()),
        ("DD_REMOTE_CONFIGURATION_ENABLED", "false".to_owned()),
        ("DD_TRACE_STATS_COMPUTATION_ENABLED", "false".to_owned()),
        ("DD_SERVICE", "ddtrace-peer".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `python <workspace>/tests/peers/<script>` with [`peer_env`] and `style`.
///
/// # Panics
/// When the peers cannot be installed, or no test agent runs.
pub fn peer(script: &str, token: &str, style: Style) -> Command {
    let path = crate::workspace_root().join("tests/peers").join(script);
    let mut cmd = Command::new(crate::python::python());
    cmd.arg(path).envs(peer_env(token));
    style.apply(&mut cmd);
    cmd
}

/// Runs the test `name` of the running test binary again in a child
/// process, with `style` on our side, [`CHILD_VAR`] set and `envs`;
/// panics with its output when it fails. The test agent's addresses are
/// passed on, so the child uses the same agent.
///
/// # Panics
/// When the child cannot start, fails, or does not run exactly that test.
pub fn rerun_test(name: &str, style: Style, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test binary: {e}"));
    rerun(&exe, name, style, envs)
}

fn rerun(exe: &Path, name: &str, style: Style, envs: &[(&str, &str)]) -> Output {
    let a = agent::agent();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_VAR, "1")
        .env("PT_TEST_AGENT_URL", &a.trace_url)
        .env("PT_OTLP_HTTP_ENDPOINT", &a.otlp_http)
        .env("PT_OTLP_GRPC_ENDPOINT", &a.otlp_grpc)
        .envs(envs.iter().copied());
    style.apply(&mut cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} in a child: {e}"));
    assert!(
        out.status.success(),
        "{name} in style {style:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // `--exact` with a wrong name runs nothing and passes.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("test result: ok. 1 passed"),
        "{name} did not run in the child:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// True in a child started by [`rerun_test`].
pub fn in_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

/// The body of the test `name` in `style` on our side: run here when this
/// is the child [`rerun_test`] started, else in such a child.
///
/// # Panics
/// As [`rerun_test`], and as `body`.
pub fn in_style(name: &str, style: Style, body: impl FnOnce(Style)) {
    if in_child() {
        body(style);
    } else {
        rerun_test(name, style, &[]);
    }
}

/// Asserts which propagation headers a ddtrace peer sent or received in
/// `style` (`headers`: a JSON object of lower-case names): Datadog's in
/// `datadog` and the default, W3C trace context in `tracecontext` and the
/// default, `baggage` with `pipeline_id` only in the default.
///
/// # Panics
/// When the headers are not those of `style`.
pub fn assert_style_headers(style: Style, headers: &Value, pipeline_id: &str) {
    let has = |k: &str| headers.get(k).and_then(Value::as_str).is_some();
    let datadog = style != Style::TraceContext;
    let w3c = style != Style::Datadog;
    assert_eq!(has("x-datadog-trace-id"), datadog, "{style:?}: {headers}");
    assert_eq!(has("x-datadog-parent-id"), datadog, "{style:?}: {headers}");
    assert_eq!(has("traceparent"), w3c, "{style:?}: {headers}");
    let baggage = headers.get("baggage").and_then(Value::as_str);
    if style.carries_baggage() {
        let sent = baggage.and_then(|b| {
            b.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == "pipeline_id").then(|| percent_decode(v.trim()))
            })
        });
        assert_eq!(sent.as_deref(), Some(pipeline_id), "{style:?}: {headers}");
    } else {
        assert_eq!(baggage, None, "{style:?}: {headers}");
    }
}

/// `%XX` escapes decoded (W3C baggage values; `+` stays `+`).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One span of ddtrace's, as the test agent's trace API reports it.
#[derive(Debug, Clone)]
pub struct DdSpan {
    /// The 128-bit trace id: the low 64 bits from `trace_id`, the high
    /// ones from the chunk's `_dd.p.tid`.
    pub trace_id: u128,
    /// The span id.
    pub span_id: u64,
    /// The parent span id (0 for a root).
    pub parent_id: u64,
    /// The operation name, e.g. `wsgi.request`.
    pub name: String,
    /// The service.
    pub service: String,
    /// String tags.
    pub meta: HashMap<String, String>,
}

impl DdSpan {
    /// The trace id as OTLP writes it: 32 lower-case hex digits.
    pub fn trace_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as OTLP writes it: 16 lower-case hex digits.
    pub fn span_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The parent id as OTLP writes it: 16 lower-case hex digits.
    pub fn parent_hex(&self) -> String {
        format!("{:016x}", self.parent_id)
    }

    /// A string tag.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.meta.get(key).map(String::as_str)
    }
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

/// The spans of the test agent's `/test/session/traces` answer (a list of
/// trace chunks).
pub fn dd_spans(traces: &Value) -> Vec<DdSpan> {
    let mut out = Vec::new();
    for chunk in traces.as_array().into_iter().flatten() {
        let spans: Vec<&Value> = chunk.as_array().into_iter().flatten().collect();
        let high = spans
            .iter()
            .find_map(|s| s["meta"]["_dd.p.tid"].as_str())
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(0);
        for s in spans {
            let meta = s["meta"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
            out.push(DdSpan {
                trace_id: (u128::from(high) << 64) | u128::from(u64_of(&s["trace_id"])),
                span_id: u64_of(&s["span_id"]),
                parent_id: u64_of(&s["parent_id"]),
                name: s["name"].as_str().unwrap_or_default().to_owned(),
                service: s["service"].as_str().unwrap_or_default().to_owned(),
                meta,
            });
        }
    }
    out
}

/// Polls the agent's trace API for ddtrace's spans of session `token`
/// until `done` accepts them or 30 s pass; returns the last seen.
///
/// # Panics
/// When the agent does not answer with JSON.
pub fn poll_dd_spans(token: &str, done: impl Fn(&[DdSpan]) -> bool) -> Vec<DdSpan> {
    dd_spans(&crate::native::poll_session_traces(token, |t| {
        done(&dd_spans(t))
    }))
}

/// A decimal id string of a peer's JSON answer.
///
/// # Panics
/// When `v` is not a decimal string.
pub fn id(v: &Value) -> u128 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a decimal id: {v}"))
}
