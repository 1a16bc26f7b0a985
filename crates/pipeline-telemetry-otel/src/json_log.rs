//! The JSON log layer: one JSON object per line, correlated with traces the
//! way Datadog expects.
//!
//! ```json
//! {"timestamp":"2026-01-31T12:00:00.123Z","status":"error","level":"error",
//!  "message":"stage failed","service":"etl","ddsource":"pipeline",
//!  "logger.name":"pipeline_telemetry",
//!  "dd.service":"etl","dd.env":"prod","dd.version":"1.2.0",
//!  "dd.trace_id":"68a2f1c09b3e4d5a8448eb211c80319c","dd.span_id":"7353015958749236563",
//!  "pipeline":"nightly","pipeline_id":"42","stage":"load",
//!  "error.kind":"Timeout","error.message":"no answer",
//!  "exception.type":"Timeout","exception.message":"no answer","outcome":"failed"}
//! ```
//!
//! The keys are the ones Datadog's JSON preprocessing reads without any
//! configuration: `service` (the log's service), `ddsource` (its source),
//! `status` (its status, mapped by the status remapper's rules), `timestamp`
//! (its date) and `dd.trace_id` (its trace). `status` is the event's level
//! (`error`, `warn`, `info`, `debug`, `trace`), and `error` for any event
//! with `outcome = "failed"` (which keeps its `outcome` attribute): a status
//! starting with `f` would be read as `emergency`.

use std::fmt;
use std::io::Write as _;
use std::sync::OnceLock;
use std::time::SystemTime;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use pipeline_telemetry_catalogue::logs;

use crate::fields::{self, PipelineFields};
use crate::json_fmt::{push_f64, push_key, push_str, push_timestamp};
use crate::propagation::sanitize_pipeline_id;
use crate::resolve::Identity;

/// Keys this layer writes itself; event fields with these names are written
/// as `fields.<name>` instead, so no key appears twice.
const RESERVED: &[&str] = &[
    "timestamp",
    "status",
    "level",
    "message",
    "service",
    "ddsource",
    "logger.name",
    "dd.service",
    "dd.env",
    "dd.version",
    "dd.trace_id",
    "dd.span_id",
    "error.kind",
    "error.message",
];

/// Writes each event as one JSON line.
pub(crate) struct JsonLogLayer {
    identity: Identity,
    writer: BoxMakeWriter,
    dispatch: OnceLock<WeakDispatch>,
}

impl fmt::Debug for JsonLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLogLayer")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

impl JsonLogLayer {
    pub(crate) fn new(identity: Identity, writer: BoxMakeWriter) -> Self {
        Self {
            identity,
            writer,
            dispatch: OnceLock::new(),
        }
    }
}

enum JsonValue {
    Str(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
}

#[derive(Default)]
struct EventFields {
    message: Option<String>,
    pipeline: PipelineFields,
    failed: bool,
    exception_type: Option<String>,
    exception_message: Option<String>,
    other: Vec<(&'static str, JsonValue)>,
}

impl EventFields {
    fn add(&mut self, field: &Field, value: JsonValue) {
        let name = field.name();
        if let JsonValue::Str(s) = &value {
            match name {
                "message" => {
                    self.message = Some(s.clone());
                    return;
                }
                "pipeline" | "pipeline_id" | "stage" => {
                    self.pipeline.record(name, s.clone());
                    return;
                }
                logs::OUTCOME_KEY => self.failed = s == logs::OUTCOME_FAILED,
                "exception.type" => self.exception_type = Some(s.clone()),
                "exception.message" => self.exception_message = Some(s.clone()),
                _ => {}
            }
        }
        if matches!(name, "pipeline" | "pipeline_id" | "stage") {
            if let Some(s) = scalar_string(&value) {
                self.pipeline.record(name, s);
                return;
            }
        }
        self.other.push((name, value));
    }
}

fn scalar_string(v: &JsonValue) -> Option<String> {
    match v {
        JsonValue::I64(n) => Some(n.to_string()),
        JsonValue::U64(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.add(field, JsonValue::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, JsonValue::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.add(field, JsonValue::U64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.add(field, JsonValue::F64(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.add(field, JsonValue::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.add(field, JsonValue::Str(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.add(field, JsonValue::Str(format!("{value:?}")));
    }
}

/// The level as Datadog's `status`.
fn status(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        _ => "trace",
    }
}

/// `dd.trace_id` as ddtrace-py 4.x writes it (`format_trace_id` in
/// `ddtrace/internal/utils/formats.py`): a 128-bit id as 32 lower-case hex
/// digits, an id that fits 64 bits in decimal. Datadog's log pipeline links
/// both forms to the trace.
pub(crate) fn format_trace_id(trace: u128) -> String {
    if trace > u128::from(u64::MAX) {
        format!("{trace:032x}")
    } else {
        trace.to_string()
    }
}

/// The trace id, Datadog's decimal span id and the context's baggage
/// `pipeline_id`, for the span with `id`.
fn correlation(dispatch: &Dispatch, id: &tracing::span::Id) -> Option<(u128, u64, Option<String>)> {
    let cx = crate::stage_spans::context_of(id, dispatch)?;
    let span_cx = cx.span().span_context().clone();
    if !span_cx.is_valid() {
        return None;
    }
    let trace = u128::from_be_bytes(span_cx.trace_id().to_bytes());
    let span = u64::from_be_bytes(span_cx.span_id().to_bytes());
    let baggage_id = cx
        .baggage()
        .get("pipeline_id")
        .and_then(|v| sanitize_pipeline_id(v.as_str()));
    Some((trace, span, baggage_id))
}

impl<S> Layer<S> for JsonLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let now = SystemTime::now();
        let meta = event.metadata();
        let mut ev = EventFields::default();
        event.record(&mut ev);

        let span = ctx.event_span(event);
        let mut pipeline = ev.pipeline.clone();
        if let Some(span) = &span {
            pipeline.fill_from(&fields::lookup(span));
        }
        let ids = span.as_ref().and_then(|s| {
            let dispatch = self.dispatch.get()?.upgrade()?;
            correlation(&dispatch, &s.id())
        });
        if pipeline.pipeline_id.is_none() {
            pipeline.pipeline_id = ids.as_ref().and_then(|(_, _, b)| b.clone());
        }

        let mut out = String::with_capacity(512);
        out.push('{');
        push_key(&mut out, "timestamp");
        push_timestamp(&mut out, now);
        let level = status(*meta.level());
        let field = |out: &mut String, key: &str, value: &str| {
            out.push(',');
            push_key(out, key);
            push_str(out, value);
        };
        // A failure is an error whatever level it was logged at.
        let status = if ev.failed {
            logs::FAILED_STATUS
        } else {
            level
        };
        field(&mut out, logs::STATUS_KEY, status);
        field(&mut out, logs::LEVEL_KEY, level);
        field(&mut out, "message", ev.message.as_deref().unwrap_or(""));
        field(&mut out, logs::SERVICE_KEY, &self.identity.service);
        field(&mut out, logs::SOURCE_KEY, logs::SOURCE);
        field(&mut out, "logger.name", meta.target());
        field(&mut out, "dd.service", &self.identity.service);
        if let Some(env) = &self.identity.env {
            field(&mut out, "dd.env", env);
        }
        if let Some(version) = &self.identity.version {
            field(&mut out, "dd.version", version);
        }
        if let Some((trace, span, _)) = &ids {
            field(&mut out, "dd.trace_id", &format_trace_id(*trace));
            field(&mut out, "dd.span_id", &span.to_string());
        }
        for (key, value) in [
            ("pipeline", &pipeline.pipeline),
            ("pipeline_id", &pipeline.pipeline_id),
            ("stage", &pipeline.stage),
        ] {
            if let Some(v) = value {
                field(&mut out, key, v);
            }
        }
        if let Some(t) = &ev.exception_type {
            field(&mut out, "error.kind", t);
        }
        if let Some(m) = &ev.exception_message {
            field(&mut out, "error.message", m);
        }
        for (name, value) in &ev.other {
            out.push(',');
            if RESERVED.contains(name) {
                push_key(&mut out, &format!("fields.{name}"));
            } else {
                push_key(&mut out, name);
            }
            match value {
                JsonValue::Str(s) => push_str(&mut out, s),
                JsonValue::I64(n) => out.push_str(&n.to_string()),
                JsonValue::U64(n) => out.push_str(&n.to_string()),
                JsonValue::F64(n) => push_f64(&mut out, *n),
                JsonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            }
        }
        out.push_str("}\n");
        // One write per line, so concurrent lines never interleave.
        let mut writer = self.writer.make_writer_for(meta);
        let _ = writer.write_all(out.as_bytes());
    }
}

#[cfg(test)]
mod format_tests {
    #[test]
    fn trace_ids_as_ddtrace_formats_them() {
        assert_eq!(super::format_trace_id(1234), "1234");
        assert_eq!(
            super::format_trace_id(u128::from(u64::MAX)),
            u64::MAX.to_string()
        );
        assert_eq!(
            super::format_trace_id(1 << 64),
            "00000000000000010000000000000000"
        );
    }
}
