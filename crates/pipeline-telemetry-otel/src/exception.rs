//! Completes what tracing-opentelemetry does with failed stages, so that
//! Datadog APM shows the error:
//!
//! - an event carrying `exception.type` / `exception.message` also becomes an
//!   OpenTelemetry span event named `exception` (the semantic convention the
//!   Agent reads `error.type` / `error.msg` from); at `ERROR` level it also
//!   sets the span status to Error with that message;
//! - a span field `otel.status_message` sets the status description (the
//!   field tracing-opentelemetry itself understands is
//!   `otel.status_description`; both work).

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::KeyValue;
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::span::{Id, Record};
use tracing::{Dispatch, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// See the module documentation. Sits next to the OpenTelemetry layer, under
/// the same filter.
#[derive(Debug, Default)]
pub(crate) struct ExceptionLayer {
    dispatch: OnceLock<WeakDispatch>,
}

#[derive(Default)]
struct ExceptionFields {
    exception_type: Option<String>,
    message: Option<String>,
    stacktrace: Option<String>,
}

impl Visit for ExceptionFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name().starts_with("exception.") {
            self.set(field.name(), format!("{value:?}"));
        }
    }
}

impl ExceptionFields {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "exception.type" => self.exception_type = Some(value),
            "exception.message" => self.message = Some(value),
            "exception.stacktrace" => self.stacktrace = Some(value),
            _ => {}
        }
    }

    fn attributes(self) -> Vec<KeyValue> {
        [
            ("exception.type", self.exception_type),
            ("exception.message", self.message),
            ("exception.stacktrace", self.stacktrace),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some(KeyValue::new(k, v?)))
        .collect()
    }
}

struct StatusMessage(Option<String>);

impl Visit for StatusMessage {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "otel.status_message" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "otel.status_message" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl ExceptionLayer {
    fn otel_context(&self, id: &Id) -> Option<opentelemetry::Context> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        tracing_opentelemetry::get_otel_context(id, &dispatch)
    }
}

impl<S> Layer<S> for ExceptionLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let fields = event.metadata().fields();
        if fields.field("exception.type").is_none() && fields.field("exception.message").is_none() {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut exception = ExceptionFields::default();
        event.record(&mut exception);
        let message = exception.message.clone();
        let Some(cx) = self.otel_context(&span.id()) else {
            return;
        };
        let otel_span = cx.span();
        otel_span.add_event("exception", exception.attributes());
        if *event.metadata().level() == Level::ERROR {
            if let Some(message) = message {
                otel_span.set_status(Status::error(message));
            }
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut status = StatusMessage(None);
        values.record(&mut status);
        if let Some(message) = status.0.filter(|m| !m.is_empty()) {
            if let Some(cx) = self.otel_context(id) {
                cx.span().set_status(Status::error(message));
            }
        }
    }
}
