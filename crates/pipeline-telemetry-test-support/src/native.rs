//! What the test agent's trace API (the Agent's native intake,
//! `/v0.4/traces`) received: Datadog-format spans and the agent's trace
//! check failures.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agent::agent;

/// Polls `/test/session/traces` of session `token` on the trace API until
/// `done` accepts the spans (every chunk's spans, flattened) or 30 s pass.
///
/// # Panics
/// When the agent does not answer with JSON.
pub fn poll_native_spans(token: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let url = format!(
        "{}/test/session/traces?test_session_token={token}",
        agent().trace_url
    );
    let start = Instant::now();
    loop {
        let spans: Vec<Value> = match reqwest::blocking::get(&url).and_then(|r| r.text()) {
            Ok(body) => match serde_json::from_str::<Value>(&body) {
                Ok(Value::Array(traces)) => traces
                    .into_iter()
                    .flat_map(|t| t.as_array().cloned().unwrap_or_default())
                    .collect(),
                // No request for the session yet.
                _ => Vec::new(),
            },
            Err(e) => panic!("GET {url}: {e}"),
        };
        if done(&spans) || start.elapsed() > Duration::from_secs(30) {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
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
