//! Events inside a stage span, as `tracing-opentelemetry` and the exception
//! layer record them on their own spans: one span event per `tracing`
//! event (named by its message, with `level`, `target` and its fields),
//! an `ERROR` event marks the span failed, and an event carrying
//! `exception.type` / `exception.message` adds an `exception` event whose
//! message, at `ERROR`, becomes the status description.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use opentelemetry::trace::{Event as OtelEvent, Status};
use opentelemetry::{KeyValue, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level};

use super::data::StageData;

/// Records `event` on `span`.
pub(crate) fn record(span: &mut StageData, event: &Event<'_>) {
    let meta = event.metadata();
    let mut fields = EventFields {
        name: None,
        attributes: vec![
            KeyValue::new("level", meta.level().as_str()),
            KeyValue::new("target", Value::String(meta.target().to_owned().into())),
        ],
        exception: Vec::new(),
        message: None,
    };
    event.record(&mut fields);
    let now = SystemTime::now();
    let error = *meta.level() == Level::ERROR;
    if error {
        span.error_event();
    }
    let name = fields.name.map_or(Cow::Borrowed(meta.name()), Cow::Owned);
    span.events
        .push(OtelEvent::new(name, now, fields.attributes, 0));
    if !fields.exception.is_empty() {
        span.events
            .push(OtelEvent::new("exception", now, fields.exception, 0));
        if let (true, Some(message)) = (error, fields.message) {
            span.raise(Status::error(message));
        }
    }
}

struct EventFields {
    name: Option<String>,
    attributes: Vec<KeyValue>,
    /// The `exception.*` fields, for the `exception` event.
    exception: Vec<KeyValue>,
    message: Option<String>,
}

impl EventFields {
    fn add(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name.starts_with("log.") {
            return;
        }
        if matches!(
            name,
            "exception.type" | "exception.message" | "exception.stacktrace"
        ) {
            if name == "exception.message" {
                self.message = Some(value.as_str().into_owned());
            }
            self.exception.push(KeyValue::new(name, value.clone()));
        }
        self.attributes.push(KeyValue::new(name, value));
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.name = Some(value.to_owned());
        } else {
            self.add(field, Value::from(value.to_owned()));
        }
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.add(field, Value::Bool(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, Value::I64(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.add(field, Value::F64(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.name = Some(format!("{value:?}"));
        } else {
            self.add(field, Value::from(format!("{value:?}")));
        }
    }
}
