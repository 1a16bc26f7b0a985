//! Remembers the `pipeline`, `pipeline_id` and `stage` fields of spans, so
//! that log lines and injected baggage can find them in the span scope.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The pipeline fields recorded on one span (or merged over a scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PipelineFields {
    pub(crate) pipeline: Option<String>,
    pub(crate) pipeline_id: Option<String>,
    pub(crate) stage: Option<String>,
}

impl PipelineFields {
    fn is_empty(&self) -> bool {
        self.pipeline.is_none() && self.pipeline_id.is_none() && self.stage.is_none()
    }

    /// Fills what is missing here from `outer`.
    pub(crate) fn fill_from(&mut self, outer: &Self) {
        for (mine, theirs) in [
            (&mut self.pipeline, &outer.pipeline),
            (&mut self.pipeline_id, &outer.pipeline_id),
            (&mut self.stage, &outer.stage),
        ] {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
    }

    /// Records one field if it is one of ours.
    pub(crate) fn record(&mut self, field: &str, value: String) -> bool {
        let slot = match field {
            "pipeline" => &mut self.pipeline,
            "pipeline_id" => &mut self.pipeline_id,
            "stage" => &mut self.stage,
            _ => return false,
        };
        *slot = Some(value);
        true
    }
}

/// True when a callsite declares one of the pipeline fields.
pub(crate) fn has_pipeline_fields(meta: &Metadata<'_>) -> bool {
    let fields = meta.fields();
    ["pipeline", "pipeline_id", "stage"]
        .iter()
        .any(|name| fields.field(name).is_some())
}

struct Visitor<'a>(&'a mut PipelineFields);

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.record(field.name(), value.to_owned());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.record(field.name(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.record(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if matches!(field.name(), "pipeline" | "pipeline_id" | "stage") {
            self.0.record(field.name(), format!("{value:?}"));
        }
    }
}

/// Stores the pipeline fields of each span in its extensions.
#[derive(Debug, Default)]
pub(crate) struct FieldsLayer;

impl<S> Layer<S> for FieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = PipelineFields::default();
        attrs.record(&mut Visitor(&mut fields));
        if let (false, Some(span)) = (fields.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<PipelineFields>() {
            Some(fields) => values.record(&mut Visitor(fields)),
            None => {
                let mut fields = PipelineFields::default();
                values.record(&mut Visitor(&mut fields));
                if !fields.is_empty() {
                    ext.insert(fields);
                }
            }
        }
    }
}

/// The per-layer filter of [`FieldsLayer`]: only spans that declare a
/// pipeline field, decided once per callsite.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PipelineSpans;

impl<S> Filter<S> for PipelineSpans {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        meta.is_span() && has_pipeline_fields(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if meta.is_span() && has_pipeline_fields(meta) {
            tracing::subscriber::Interest::always()
        } else {
            tracing::subscriber::Interest::never()
        }
    }
}

/// The nearest value of each pipeline field, from `span` up to the root.
pub(crate) fn lookup<'a, R: LookupSpan<'a>>(span: &SpanRef<'a, R>) -> PipelineFields {
    let mut merged = PipelineFields::default();
    for s in span.scope() {
        if let Some(fields) = s.extensions().get::<PipelineFields>() {
            merged.fill_from(fields);
        }
        if merged.pipeline.is_some() && merged.pipeline_id.is_some() && merged.stage.is_some() {
            break;
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Registry;

    #[test]
    fn nearest_value_wins_and_records_update() {
        let subscriber = Registry::default().with(FieldsLayer.with_filter(PipelineSpans));
        tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("pipeline.run", pipeline = "etl", pipeline_id = 42);
            let stage =
                tracing::info_span!(parent: &run, "pipeline.stage", stage = tracing::field::Empty);
            stage.record("stage", "load");
            let found = stage.with_subscriber(|(id, dispatch)| {
                let registry = dispatch.downcast_ref::<Registry>()?;
                let span = registry.span(id)?;
                Some(lookup(&span))
            });
            let fields = found.flatten().expect("span found");
            assert_eq!(fields.pipeline.as_deref(), Some("etl"));
            assert_eq!(fields.pipeline_id.as_deref(), Some("42"));
            assert_eq!(fields.stage.as_deref(), Some("load"));
        });
    }
}
