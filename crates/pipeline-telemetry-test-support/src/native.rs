//! What the test agent's trace API (the Agent's native intake,
//! `/v0.4/traces`) received: Datadog-format spans and the agent's trace
//! check failures.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::agent;

/// Polls `/test/session/traces` of session `token` on the trace API until
/// `done` accepts its answer (a list of trace chunks, each a list of spans;
/// `null` before the first payload) or 30 s pass; returns the last answer.
///
/// # Panics
/// When the agent cannot be asked.
pub fn poll_session_traces(token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let url = format!(
        "{}/test/session/traces?test_session_token={token}",
        agent().trace_url
    );
    let start = Instant::now();
    loop {
        let body = reqwest::blocking::get(&url)
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        // Before the first payload the agent may answer with a message
        // that is not JSON: nothing yet.
        let got = serde_json::from_str(&body).unwrap_or(Value::Null);
        if done(&got) || start.elapsed() > Duration::from_secs(30) {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every chunk's spans of a [`poll_session_traces`] answer, flattened.
pub fn flatten(traces: &Value) -> Vec<Value> {
    traces
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t.as_array().cloned().unwrap_or_default())
        .collect()
}

/// [`poll_session_traces`] until `done` accepts the spans (flattened).
///
/// # Panics
/// When the agent cannot be asked.
pub fn poll_native_spans(token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    flatten(&poll_session_traces(token, |t| done(&flatten(t))))
}

/// The agent's trace check failures for session `token` (the checks
/// `scripts/start-test-agent.sh` enables), or `None` when there are none.
///
/// # Panics
/// When the agent cannot be asked.
pub fn trace_check_failures(token: &str) -> Option<String> {
    let url = format!(
        "{}/test/trace_check/failures?test_session_token={token}",
        agent().trace_url
    );
    let r = reqwest::blocking::get(&url).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let ok = r.status().is_success();
    let body = r.text().unwrap_or_default();
    (!ok).then_some(body)
}
