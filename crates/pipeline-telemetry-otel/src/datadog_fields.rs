//! The Datadog span fields of run and stage spans, derived on the export
//! thread instead of being recorded on every span.
//!
//! Datadog's OTLP ingest (datadog-agent `pkg/trace/transform`,
//! `OtelSpanToDDSpan`) reads `operation.name` and `resource.name` as the
//! span's operation and resource, and `_dd.measured = 1` makes a
//! non-top-level span count in the APM trace metrics (hits, errors,
//! latency). For the spans of pipeline runs (`pipeline.run`) and stages
//! (`pipeline.stage`) of the `pipeline_telemetry` target these are fixed by
//! the span's name and its `pipeline` / `stage` field, so the exporter adds
//! them to each finished span just before it is sent: the pipeline's thread
//! never pays for three more attributes per stage.
//!
//! A span that already carries `operation.name` is left as it is.

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::trace::SpanData;

use crate::stage_spans::FinishedSpan;

/// The instrumentation scope of every span and log record this crate exports.
pub(crate) const SCOPE: &str = "pipeline-telemetry";
/// The name of a run's span.
pub(crate) const RUN_SPAN: &str = "pipeline.run";
/// The name of a stage's span.
pub(crate) const STAGE_SPAN: &str = "pipeline.stage";

const OPERATION_NAME: Key = Key::from_static_str("operation.name");
const RESOURCE_NAME: Key = Key::from_static_str("resource.name");
const MEASURED: Key = Key::from_static_str("_dd.measured");

/// A batch of finished spans as every span exporter sends it: each as the
/// SDK ends it, with [`derive`] applied.
pub(crate) fn export_batch(batch: Vec<FinishedSpan>) -> Vec<SpanData> {
    batch
        .into_iter()
        .map(|finished| {
            let mut span = finished.into_span_data();
            derive(&mut span);
            span
        })
        .collect()
}

/// Adds `operation.name`, `resource.name` (and `_dd.measured` for stages)
/// to a finished run or stage span of this crate's [`SCOPE`].
pub(crate) fn derive(span: &mut SpanData) {
    if span.instrumentation_scope.name() != SCOPE {
        return;
    }
    let (operation, resource_field, measured) = match &*span.name {
        RUN_SPAN => (RUN_SPAN, "pipeline", false),
        STAGE_SPAN => (STAGE_SPAN, "stage", true),
        _ => return,
    };
    let mut resource: Option<Value> = None;
    for kv in &span.attributes {
        if kv.key == OPERATION_NAME {
            return;
        }
        if kv.key.as_str() == resource_field {
            resource = Some(kv.value.clone());
        }
    }
    span.attributes
        .push(KeyValue::new(OPERATION_NAME, Value::from(operation)));
    if let Some(resource) = resource {
        span.attributes.push(KeyValue::new(RESOURCE_NAME, resource));
    }
    if measured {
        span.attributes.push(KeyValue::new(MEASURED, 1_i64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanKind, Status};
    use opentelemetry::InstrumentationScope;
    use std::borrow::Cow;
    use std::time::SystemTime;

    fn span(scope: &'static str, name: &'static str, attrs: Vec<KeyValue>) -> SpanData {
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: opentelemetry::trace::SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed(name),
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes: attrs,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder(scope).build(),
        }
    }

    fn attr(s: &SpanData, key: &str) -> Option<String> {
        s.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    }

    #[test]
    fn stage_spans_get_operation_resource_and_measured() {
        let mut s = span(
            SCOPE,
            STAGE_SPAN,
            vec![
                KeyValue::new("stage", "load"),
                KeyValue::new("pipeline", "etl"),
            ],
        );
        derive(&mut s);
        assert_eq!(
            attr(&s, "operation.name").as_deref(),
            Some("pipeline.stage")
        );
        assert_eq!(attr(&s, "resource.name").as_deref(), Some("load"));
        assert_eq!(attr(&s, "_dd.measured").as_deref(), Some("1"));
    }

    #[test]
    fn run_spans_get_operation_and_resource_but_not_measured() {
        let mut s = span(SCOPE, RUN_SPAN, vec![KeyValue::new("pipeline", "etl")]);
        derive(&mut s);
        assert_eq!(attr(&s, "operation.name").as_deref(), Some("pipeline.run"));
        assert_eq!(attr(&s, "resource.name").as_deref(), Some("etl"));
        assert_eq!(attr(&s, "_dd.measured"), None);
    }

    #[test]
    fn other_spans_and_explicit_fields_are_left_alone() {
        let mut other = span(SCOPE, "rabbitmq.send", vec![]);
        derive(&mut other);
        assert!(other.attributes.is_empty());

        let mut foreign = span("someone-else", STAGE_SPAN, vec![]);
        derive(&mut foreign);
        assert!(foreign.attributes.is_empty());

        let mut explicit = span(
            SCOPE,
            STAGE_SPAN,
            vec![
                KeyValue::new("operation.name", "custom"),
                KeyValue::new("stage", "load"),
            ],
        );
        derive(&mut explicit);
        assert_eq!(explicit.attributes.len(), 2);
        assert_eq!(attr(&explicit, "operation.name").as_deref(), Some("custom"));
    }
}
