//! Remembers the `pipeline`, `pipeline_id` and `stage` fields of spans, so
//! that log lines and injected baggage can find them in the span scope.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::stage_spans::StageData;

/// The pipeline fields recorded on one span (or merged over a scope).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PipelineFields {
    pub(crate) pipeline: Option<String>,
    pub(crate) pipeline_id: Option<String>,
    pub(crate) stage: Option<String>,
}

impl PipelineFields {
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

/// The span fields log lines and baggage read as a span's pipeline fields.
const PIPELINE_FIELDS: [&str; 3] = ["pipeline", "pipeline_id", "stage"];

/// True when `name` is one of the pipeline fields.
pub(crate) fn is_pipeline_field(name: &str) -> bool {
    PIPELINE_FIELDS.contains(&name)
}

/// True when a callsite declares one of the pipeline fields.
pub(crate) fn has_pipeline_fields(meta: &Metadata<'_>) -> bool {
    let fields = meta.fields();
    PIPELINE_FIELDS
        .iter()
        .any(|name| fields.field(name).is_some())
}

/// One pipeline field's value as a span stores it: up to [`INLINE`] bytes
/// in place (no allocation on the span's creation), longer on the heap.
#[derive(Clone)]
pub(crate) enum FieldValue {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

/// Bytes a field value holds without allocating (a UUID takes 36).
const INLINE: usize = 62;

impl FieldValue {
    pub(crate) fn new(s: &str) -> Self {
        match u8::try_from(s.len()) {
            Ok(len) if s.len() <= INLINE => {
                let mut buf = [0u8; INLINE];
                buf[..s.len()].copy_from_slice(s.as_bytes());
                FieldValue::Inline { len, buf }
            }
            _ => FieldValue::Heap(s.into()),
        }
    }

    /// Formats `value` in place (spilling to the heap past [`INLINE`] bytes).
    fn display(value: &dyn fmt::Display) -> Self {
        let mut w = InlineWriter {
            buf: [0u8; INLINE],
            len: 0,
            spill: None,
        };
        if fmt::write(&mut w, format_args!("{value}")).is_err() {
            return FieldValue::new("");
        }
        match w.spill {
            Some(s) => FieldValue::Heap(s.into_boxed_str()),
            None => FieldValue::new(w.as_str()),
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            FieldValue::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            FieldValue::Heap(s) => s,
        }
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Formats into a fixed buffer, moving to a `String` when it overflows.
struct InlineWriter {
    buf: [u8; INLINE],
    len: usize,
    spill: Option<String>,
}

impl InlineWriter {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for InlineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(spill) = &mut self.spill {
            spill.push_str(s);
        } else if self.len + s.len() <= INLINE {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spill = String::with_capacity(self.len + s.len());
            spill.push_str(self.as_str());
            spill.push_str(s);
            self.spill = Some(spill);
        }
        Ok(())
    }
}

/// The pipeline fields recorded on one span, stored in its extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanFields {
    pub(crate) pipeline: Option<FieldValue>,
    pub(crate) pipeline_id: Option<FieldValue>,
    pub(crate) stage: Option<FieldValue>,
}

impl SpanFields {
    fn is_empty(&self) -> bool {
        self.pipeline.is_none() && self.pipeline_id.is_none() && self.stage.is_none()
    }

    pub(crate) fn slot(&mut self, field: &str) -> Option<&mut Option<FieldValue>> {
        match field {
            "pipeline" => Some(&mut self.pipeline),
            "pipeline_id" => Some(&mut self.pipeline_id),
            "stage" => Some(&mut self.stage),
            _ => None,
        }
    }
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = Some(FieldValue::new(value));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = Some(FieldValue::display(&value));
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = Some(FieldValue::display(&value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(slot) = self.slot(field.name()) {
            *slot = Some(FieldValue::display(&format_args!("{value:?}")));
        }
    }
}

/// Stores the pipeline fields of each span in its extensions, in place
/// (no allocation beyond the extension itself for values up to
/// [`INLINE`] bytes).
#[derive(Debug, Default)]
pub(crate) struct FieldsLayer;

impl<S> Layer<S> for FieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !has_pipeline_fields(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        // A stage span the trace layer keeps has its fields there already.
        if ext.get_mut::<StageData>().is_some() {
            return;
        }
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if !fields.is_empty() {
            ext.insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if ext.get_mut::<StageData>().is_some() {
            return;
        }
        match ext.get_mut::<SpanFields>() {
            Some(fields) => values.record(fields),
            None => {
                let mut fields = SpanFields::default();
                values.record(&mut fields);
                if !fields.is_empty() {
                    ext.insert(fields);
                }
            }
        }
    }
}

/// The nearest value of each pipeline field, from `span` up to the root.
pub(crate) fn lookup<'a, R: LookupSpan<'a>>(span: &SpanRef<'a, R>) -> PipelineFields {
    let mut merged = PipelineFields::default();
    for s in span.scope() {
        let ext = s.extensions();
        let found = ext
            .get::<SpanFields>()
            .or_else(|| ext.get::<StageData>().map(|d| &d.fields));
        if let Some(fields) = found {
            for (mine, theirs) in [
                (&mut merged.pipeline, &fields.pipeline),
                (&mut merged.pipeline_id, &fields.pipeline_id),
                (&mut merged.stage, &fields.stage),
            ] {
                if let (None, Some(v)) = (&mine, theirs) {
                    *mine = Some(v.as_str().to_owned());
                }
            }
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
        let subscriber = Registry::default().with(FieldsLayer);
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
