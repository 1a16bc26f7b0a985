//! The embedded default when no Agent is configured: one summary line per
//! finished span on the console, instead of exporting.

use std::fmt::Write as _;
use std::io::Write as _;

use opentelemetry::trace::Status;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

use crate::batch::ExportSink;
use crate::stage_spans::FinishedSpan;

/// Printed once, before the first span summary.
pub(crate) const CONSOLE_HINT: &str =
    "pipeline-telemetry: no Datadog Agent configured; printing finished spans here. \
To send them to the Agent's trace intake set DD_AGENT_HOST=<agent host> \
(or DD_TRACE_AGENT_URL=http://<host>:8126 or unix:///path/apm.socket); \
to send OTLP instead set OTEL_EXPORTER_OTLP_ENDPOINT=http://<host>:4317; \
PIPELINE_TELEMETRY_TRACES=off silences this.";

/// Writes span summaries to a writer (stderr by default).
pub(crate) struct ConsoleSpanSink {
    writer: BoxMakeWriter,
    line: String,
    hinted: bool,
}

impl ConsoleSpanSink {
    pub(crate) fn new(writer: BoxMakeWriter) -> Self {
        Self {
            writer,
            line: String::with_capacity(256),
            hinted: false,
        }
    }
}

/// Attributes worth a place on the one-line summary.
const SHOWN: &[&str] = &["pipeline", "pipeline_id", "stage", "resource.name"];

/// Formats one span as
/// `span pipeline.stage stage=extract pipeline_id=42 trace=… span=… parent=… 12.3ms error="boom"`.
pub(crate) fn summary(span: &SpanData, out: &mut String) {
    out.clear();
    let duration = span
        .end_time
        .duration_since(span.start_time)
        .unwrap_or_default();
    let _ = write!(out, "span {}", clean(&span.name));
    for key in SHOWN {
        if let Some(kv) = span.attributes.iter().find(|kv| kv.key.as_str() == *key) {
            let value = match &kv.value {
                Value::String(s) => clean(s.as_str()),
                other => clean(&other.to_string()),
            };
            let _ = write!(out, " {key}={value}");
        }
    }
    let _ = write!(
        out,
        " trace={} span={}",
        span.span_context.trace_id(),
        span.span_context.span_id()
    );
    if span.parent_span_id != opentelemetry::trace::SpanId::INVALID {
        let _ = write!(out, " parent={}", span.parent_span_id);
    }
    let _ = write!(out, " {:.3}ms", duration.as_secs_f64() * 1000.0);
    if let Status::Error { description } = &span.status {
        let _ = write!(out, " error={:?}", clean(description));
    }
    out.push('\n');
}

/// Keeps a value on one line.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl ExportSink for ConsoleSpanSink {
    type Item = FinishedSpan;

    fn export(&mut self, batch: Vec<FinishedSpan>) -> Result<(), String> {
        let batch = crate::datadog_fields::export_batch(batch);
        let mut w = self.writer.make_writer();
        if !std::mem::replace(&mut self.hinted, true) {
            writeln!(w, "{CONSOLE_HINT}").map_err(|e| format!("to the console: {e}"))?;
        }
        for span in &batch {
            summary(span, &mut self.line);
            w.write_all(self.line.as_bytes())
                .map_err(|e| format!("to the console: {e}"))?;
        }
        w.flush().map_err(|e| format!("to the console: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use std::time::{Duration, SystemTime};

    #[test]
    fn one_line_per_span_even_with_hostile_values() {
        let start = SystemTime::UNIX_EPOCH;
        let span = SpanData {
            span_context: SpanContext::new(
                TraceId::from(1u128),
                SpanId::from(2u64),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(3u64),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "pipeline.stage".into(),
            start_time: start,
            end_time: start + Duration::from_millis(12),
            attributes: vec![
                KeyValue::new("stage", "ex\ntract"),
                KeyValue::new("pipeline_id", "42"),
            ],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::error("bad\r\nthing"),
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        };
        let mut line = String::new();
        summary(&span, &mut line);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.starts_with("span pipeline.stage pipeline_id=42 stage=ex tract trace="));
        assert!(line.contains("parent=0000000000000003"));
        assert!(line.contains("12.000ms"));
        assert!(line.contains("error=\"bad  thing\""));
    }
}
