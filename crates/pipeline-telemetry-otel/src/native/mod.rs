//! Spans to the Datadog Agent's own trace intake (`/v0.4/traces` on port
//! 8126 or the Agent's Unix socket), the endpoint every Agent serves with
//! its default configuration: no OTLP receiver needs to be turned on.
//!
//! - [`encode`]: a batch as a `v0.4` MessagePack payload; [`span`] and
//!   [`names`] port the Agent's own OTLP-to-Datadog span mapping, so a span
//!   looks the same in Datadog whichever path it took;
//! - [`http1`]: one HTTP/1.1 request over TCP or the Unix socket, std only;
//! - [`addr`]: where the intake is, decided as ddtrace decides it.
//!
//! The Agent's answer carries its per-service sampling rates
//! (`rate_by_service`), handed to the `on_answer` hook.

pub(crate) mod addr;
pub(crate) mod encode;
pub(crate) mod http1;
mod json;
mod msgpack;
pub(crate) mod names;
mod span;
mod unix;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;

use crate::batch::ExportSink;
use crate::stage_spans::FinishedSpan;
use addr::Intake;

/// Called with the body of each successful answer of the intake.
pub(crate) type AnswerHook = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The intake's path for `v0.4` payloads.
pub(crate) const TRACES_PATH: &str = "/v0.4/traces";

/// Finished spans to the Agent's trace intake.
pub(crate) struct NativeSpanSink {
    intake: Intake,
    headers: Vec<(String, String)>,
    timeout: Duration,
    resource: Resource,
    on_answer: Option<AnswerHook>,
    /// The intake host's addresses, looked up again only when none
    /// connects.
    resolved: Vec<std::net::SocketAddr>,
}

impl NativeSpanSink {
    pub(crate) fn new(
        intake: Intake,
        headers: Vec<(String, String)>,
        timeout: Duration,
        resource: Resource,
        on_answer: Option<AnswerHook>,
    ) -> Self {
        Self {
            intake,
            headers,
            timeout,
            resource,
            on_answer,
            resolved: Vec::new(),
        }
    }
}

impl ExportSink for NativeSpanSink {
    type Item = FinishedSpan;

    fn export(&mut self, batch: Vec<FinishedSpan>) -> Result<(), String> {
        let batch = crate::datadog_fields::export_batch(batch);
        if batch.is_empty() {
            return Ok(());
        }
        // Connected first: with the Agent away, a batch costs a refused
        // connection, not its encoding too.
        let stream = http1::connect(&self.intake.addr, self.timeout, &mut self.resolved)
            .map_err(|e| format!("cannot connect to {}: {e}", self.intake.addr))?;
        let payload = encode::payload(&batch, &self.resource);
        let mut headers: Vec<(&str, String)> = vec![
            ("Content-Type", "application/msgpack".to_owned()),
            ("X-Datadog-Trace-Count", payload.traces.to_string()),
            ("Datadog-Meta-Lang", "rust".to_owned()),
            // `_dd.top_level` is set on each span (`span::minimal`).
            ("Datadog-Client-Computed-Top-Level", "yes".to_owned()),
            (
                "Datadog-Meta-Tracer-Version",
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
        ];
        headers.extend(self.headers.iter().map(|(k, v)| (k.as_str(), v.clone())));
        let answer = http1::request(
            stream,
            &self.intake.addr,
            "PUT",
            TRACES_PATH,
            &headers,
            &payload.body,
            self.timeout,
        )?;
        if !(200..300).contains(&answer.status) {
            let text = String::from_utf8_lossy(&answer.body);
            let text: String = text.chars().take(200).collect();
            return Err(format!(
                "{}{TRACES_PATH} answered {}: {text}",
                self.intake.addr, answer.status
            ));
        }
        if let Some(hook) = &self.on_answer {
            hook(&answer.body);
        }
        Ok(())
    }

    fn shutdown(&mut self) {}
}
