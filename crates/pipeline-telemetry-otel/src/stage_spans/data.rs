//! What a stage span keeps while it is open, and the finished span it
//! becomes: the same `SpanData` that `tracing-opentelemetry` and the SDK
//! would have produced for it (name, attributes, status, events), built
//! without either.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanLinks};
use tracing::field::{Field, Visit};

use super::STAGE_NAME;
use crate::datadog_fields::SCOPE;
use crate::fields::{is_pipeline_field, FieldValue, SpanFields};

/// The span fields `tracing-opentelemetry` reads as the span's status
/// instead of attributes (and `otel.status_message`, which the exception
/// layer reads).
const STATUS_CODE: &str = "otel.status_code";
const STATUS_DESCRIPTION: &str = "otel.status_description";
const STATUS_MESSAGE: &str = "otel.status_message";

/// An open stage span, in its extensions.
#[derive(Debug)]
pub(crate) struct StageData {
    /// The parent's OpenTelemetry context (its span, baggage, ...).
    pub(crate) parent_cx: Context,
    /// This span's own context: a new span id in the parent's trace.
    pub(crate) span_context: SpanContext,
    pub(crate) parent_span_id: SpanId,
    pub(crate) parent_is_remote: bool,
    pub(crate) start: SystemTime,
    /// `stage`, `pipeline`, `pipeline_id`, in place (what log lines read).
    pub(crate) fields: SpanFields,
    /// Any other field.
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) status: Status,
    pub(crate) events: Vec<Event>,
}

impl StageData {
    /// A stage span in the trace of `parent_cx`'s span.
    pub(crate) fn new(parent_cx: Context) -> Option<Self> {
        let parent = parent_cx.span().span_context().clone();
        if !parent.is_valid() {
            return None;
        }
        let span_context = SpanContext::new(
            parent.trace_id(),
            new_span_id(),
            parent.trace_flags() & TraceFlags::SAMPLED,
            false,
            parent.trace_state().clone(),
        );
        Some(StageData {
            parent_span_id: parent.span_id(),
            parent_is_remote: parent.is_remote(),
            parent_cx,
            span_context,
            start: SystemTime::now(),
            fields: SpanFields::default(),
            attributes: Vec::new(),
            status: Status::Unset,
            events: Vec::new(),
        })
    }

    /// The span's context as `tracing-opentelemetry` gives it for its own
    /// spans: the parent's, with this span in it.
    pub(crate) fn context(&self) -> Context {
        self.parent_cx
            .with_remote_span_context(self.span_context.clone())
    }

    /// Records span fields (at creation, or `Span::record` later).
    pub(crate) fn fields(&mut self) -> FieldVisitor<'_> {
        FieldVisitor(self)
    }

    /// Records a field other than the pipeline fields.
    fn set(&mut self, key: &'static str, value: Value) {
        // As `tracing-opentelemetry` reads them.
        match key {
            STATUS_CODE => {
                let code = value.as_str();
                self.status = if code.eq_ignore_ascii_case("ok") {
                    Status::Ok
                } else if code.eq_ignore_ascii_case("error") {
                    Status::error("")
                } else {
                    Status::Unset
                };
            }
            STATUS_DESCRIPTION => self.status = Status::error(value.as_str().into_owned()),
            // The exception layer's field, with the SDK's precedence.
            STATUS_MESSAGE => {
                let text = value.as_str();
                if !text.is_empty() {
                    self.raise(Status::error(text.into_owned()));
                }
            }
            _ => match self.attributes.iter_mut().find(|kv| kv.key.as_str() == key) {
                Some(kv) => kv.value = value,
                None => self.attributes.push(KeyValue::new(key, value)),
            },
        }
    }

    /// Sets `status` as the SDK's `set_status` does: only over a lower one
    /// (`Unset` < `Error` < `Ok`).
    pub(crate) fn raise(&mut self, status: Status) {
        if status > self.status {
            self.status = status;
        }
    }

    /// Marks the span failed by an `ERROR` event, as `tracing-opentelemetry`
    /// does: an error status with no description, unless one is set.
    pub(crate) fn error_event(&mut self) {
        if self.status == Status::Unset {
            self.status = Status::error("");
        }
    }

    /// The finished span, ended now (converted to `SpanData` on the
    /// export thread).
    pub(crate) fn finish(mut self) -> FinishedSpan {
        let end = SystemTime::now();
        // The parent's context is not needed past here; it must not keep
        // the parent's SDK span alive in the export queue (an SDK span
        // ends when its last reference goes, and one ended by the export
        // thread after shutdown would be lost).
        self.parent_cx = Context::new();
        FinishedSpan::Stage(Finished { end, data: self })
    }
}

/// A finished span in the export queue.
#[derive(Debug)]
// Queued by value: the queue's slots are allocated once, a box per span
// would cost an allocation on the pipeline's thread.
#[allow(clippy::large_enum_variant)]
pub(crate) enum FinishedSpan {
    /// Ended through the SDK.
    Sdk(SpanData),
    /// A stage span kept by `StageSpans`.
    Stage(Finished),
}

/// A stage span and its end time.
#[derive(Debug)]
pub(crate) struct Finished {
    data: StageData,
    end: SystemTime,
}

impl FinishedSpan {
    /// The span as the SDK would have ended it.
    pub(crate) fn into_span_data(self) -> SpanData {
        let Finished { data, end } = match self {
            FinishedSpan::Sdk(span) => return span,
            FinishedSpan::Stage(finished) => finished,
        };
        let mut attributes = Vec::with_capacity(3 + data.attributes.len());
        for (key, value) in [
            ("stage", &data.fields.stage),
            ("pipeline", &data.fields.pipeline),
            ("pipeline_id", &data.fields.pipeline_id),
        ] {
            if let Some(v) = value {
                attributes.push(KeyValue::new(key, v.as_str().to_owned()));
            }
        }
        attributes.extend(data.attributes);
        SpanData {
            span_context: data.span_context,
            parent_span_id: data.parent_span_id,
            parent_span_is_remote: data.parent_is_remote,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(STAGE_NAME),
            start_time: data.start,
            end_time: end,
            attributes,
            dropped_attributes_count: 0,
            events: events(data.events),
            links: SpanLinks::default(),
            status: data.status,
            instrumentation_scope: InstrumentationScope::builder(SCOPE).build(),
        }
    }
}

fn events(list: Vec<Event>) -> SpanEvents {
    let mut events = SpanEvents::default();
    events.events = list;
    events
}

/// Records a stage span's fields: the pipeline fields as `FieldsLayer`
/// records them on other spans (the same visitor), the rest as
/// `tracing-opentelemetry` does.
pub(crate) struct FieldVisitor<'a>(&'a mut StageData);

impl FieldVisitor<'_> {
    /// The pipeline fields, when `field` is one of them.
    fn pipeline(&mut self, field: &Field) -> Option<&mut SpanFields> {
        is_pipeline_field(field.name()).then_some(&mut self.0.fields)
    }
}

impl Visit for FieldVisitor<'_> {
    // The common case (a stage's own fields are strings), inline: one look
    // at the field's name, the value written in place (through
    // `SpanFields`' visitor it costs about 80 more instructions a stage).
    fn record_str(&mut self, field: &Field, value: &str) {
        match self.0.fields.slot(field.name()) {
            Some(slot) => *slot = Some(FieldValue::new(value)),
            None => self.0.set(field.name(), Value::from(value.to_owned())),
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        match self.pipeline(field) {
            Some(fields) => fields.record_bool(field, value),
            None => self.0.set(field.name(), Value::Bool(value)),
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        match self.pipeline(field) {
            Some(fields) => fields.record_i64(field, value),
            None => self.0.set(field.name(), Value::I64(value)),
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(fields) = self.pipeline(field) {
            return fields.record_u64(field, value);
        }
        match i64::try_from(value) {
            Ok(v) => self.0.set(field.name(), Value::I64(v)),
            Err(_) => self.0.set(field.name(), Value::from(value.to_string())),
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        match self.pipeline(field) {
            Some(fields) => fields.record_f64(field, value),
            None => self.0.set(field.name(), Value::F64(value)),
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match self.pipeline(field) {
            Some(fields) => fields.record_debug(field, value),
            None => self.0.set(field.name(), Value::from(format!("{value:?}"))),
        }
    }
}

/// A random, non-zero span id, from the generator the SDK gives every
/// other span (the tracer provider is built with its default).
pub(crate) fn new_span_id() -> SpanId {
    let ids = RandomIdGenerator::default();
    loop {
        let id = ids.new_span_id();
        if id != SpanId::INVALID {
            return id;
        }
    }
}
