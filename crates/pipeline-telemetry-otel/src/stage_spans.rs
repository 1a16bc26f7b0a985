//! Stage spans without `tracing-opentelemetry`'s per-span work.
//!
//! A stage span (`pipeline.stage`, target `pipeline_telemetry`) opened under
//! a span that has an OpenTelemetry context (the run's, a request's, another
//! stage's) is kept by this layer: a new span id in the parent's trace, its
//! fields, status and events, in the span's extensions, and on close the
//! finished span goes straight to the export queue. `tracing-opentelemetry`
//! would build an SDK span builder on creation and an SDK span on close for
//! it; the pipeline's thread pays for neither here. Every other span, and a
//! stage span with no parent (the root of its own trace, which the sampler
//! decides), goes to `tracing-opentelemetry` as before.
//!
//! What the stage span gives the spans and code under it:
//! - a `tracing` span opened inside it (contextually, or with the stage as
//!   explicit parent while it is the current span or no span is) is its
//!   child in the trace;
//! - log lines in it carry its trace and span ids;
//! - [`inject_context`](crate::inject_context) and the layer crates
//!   propagate its context;
//! - [`span_context`] gives its OpenTelemetry context.
//!
//! `tracing_opentelemetry::OpenTelemetrySpanExt` methods called on the
//! stage span itself see no OpenTelemetry span (`context()` is empty,
//! `set_attribute` does nothing): use [`span_context`], or
//! [`OtelBuilder::with_native_stage_spans(false)`](crate::OtelBuilder::with_native_stage_spans).

use std::any::TypeId;
use std::sync::{Arc, OnceLock};

use opentelemetry::Context as OtelContext;
use tracing::dispatcher::WeakDispatch;
use tracing::span::{Attributes, Id, Record};
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::batch::Batcher;

mod data;
mod event;

pub(crate) use data::{FinishedSpan, StageData};

/// The name and target of the spans this layer keeps.
const STAGE_NAME: &str = "pipeline.stage";
const STAGE_TARGET: &str = "pipeline_telemetry";

fn is_stage(meta: &Metadata<'_>) -> bool {
    meta.name() == STAGE_NAME && meta.target() == STAGE_TARGET
}

/// Where finished stage spans go: the queue the SDK's spans go to.
#[derive(Debug)]
pub(crate) struct StageExport {
    pub(crate) batcher: Arc<Batcher<FinishedSpan>>,
    /// Queue spans of rejected traces too (the trace intake wants them).
    pub(crate) export_rejected: bool,
}

/// Wraps `tracing-opentelemetry`'s layer (`inner`); see the module docs.
pub(crate) struct StageSpans<L> {
    inner: L,
    export: Option<StageExport>,
    dispatch: OnceLock<WeakDispatch>,
    lookup: WithStageContext,
}

/// Finds a stage span's context through the subscriber, whatever its
/// type (found with `Dispatch::downcast_ref`, as `tracing-opentelemetry`
/// finds its own).
#[derive(Clone, Copy)]
pub(crate) struct WithStageContext(fn(&Dispatch, &Id) -> Option<OtelContext>);

fn lookup<S>(dispatch: &Dispatch, id: &Id) -> Option<OtelContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let subscriber = dispatch.downcast_ref::<S>()?;
    let span = subscriber.span(id)?;
    let ext = span.extensions();
    ext.get::<StageData>().map(StageData::context)
}

impl<L> StageSpans<L> {
    /// `export: None` keeps every span with `inner`.
    pub(crate) fn new<S>(inner: L, export: Option<StageExport>) -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        StageSpans {
            inner,
            export,
            dispatch: OnceLock::new(),
            lookup: WithStageContext(lookup::<S>),
        }
    }

    /// The OpenTelemetry context of `span`, which `tracing-opentelemetry`
    /// keeps, stored on it for the next stage: reading it starts that span,
    /// after which its context no longer changes.
    fn parent_context<S>(&self, span: &SpanRef<'_, S>) -> Option<OtelContext>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        // `replace`: another thread may have stored it meanwhile.
        span.extensions_mut().replace(ParentContext(cx.clone()));
        Some(cx)
    }
}

/// The context of a span `tracing-opentelemetry` keeps, stored on it when
/// a stage span first opens under it.
struct ParentContext(OtelContext);

/// The span `attrs` opens under: its explicit parent, or the current span.
fn parent_of<'a, S>(attrs: &Attributes<'_>, ctx: &'a Context<'_, S>) -> Option<SpanRef<'a, S>>
where
    S: Subscriber + for<'b> LookupSpan<'b>,
{
    match attrs.parent() {
        Some(id) => ctx.span(id),
        None if attrs.is_contextual() => ctx.lookup_current(),
        None => None,
    }
}

/// Whether the span with `id` is one this layer keeps.
fn kept<S>(id: &Id, ctx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span(id).is_some_and(|span| {
        is_stage(span.metadata()) && span.extensions().get::<StageData>().is_some()
    })
}

impl<S, L> Layer<S> for StageSpans<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
        self.inner.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if self.export.is_none() {
            return self.inner.on_new_span(attrs, id, ctx);
        }
        let parent = parent_of(attrs, &ctx);
        // The parent's context: a stage span's own, or the one stored on a
        // span `tracing-opentelemetry` keeps when a stage first opened
        // under it (one look at the parent's extensions for both).
        let (parent_stage, stored) = match &parent {
            Some(p) => {
                let ext = p.extensions();
                (
                    ext.get::<StageData>().map(StageData::context),
                    ext.get::<ParentContext>().map(|c| c.0.clone()),
                )
            }
            None => (None, None),
        };
        if is_stage(attrs.metadata()) {
            let parent_cx = match (parent_stage, stored, &parent) {
                (Some(cx), _, _) | (None, Some(cx), _) => Some(cx),
                (None, None, Some(p)) => self.parent_context(p),
                (None, None, None) => None,
            };
            drop(parent);
            if let Some(mut data) = parent_cx.and_then(StageData::new) {
                attrs.record(&mut data.fields());
                if let Some(span) = ctx.span(id) {
                    span.extensions_mut().insert(data);
                }
                return;
            }
            // The root of its own trace: the sampler decides it.
            return self.inner.on_new_span(attrs, id, ctx);
        }
        drop(parent);
        match parent_stage {
            // A span under a stage span: `tracing-opentelemetry` takes the
            // current OpenTelemetry context as the parent of a contextual
            // span whose `tracing` parent it does not keep.
            Some(cx) => {
                let _current = cx.attach();
                if attrs.is_contextual() {
                    self.inner.on_new_span(attrs, id, ctx);
                } else {
                    let contextual = Attributes::new(attrs.metadata(), attrs.values());
                    self.inner.on_new_span(&contextual, id, ctx);
                }
            }
            None => self.inner.on_new_span(attrs, id, ctx),
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(data) = ext.get_mut::<StageData>() {
                values.record(&mut data.fields());
                return;
            }
        }
        self.inner.on_record(id, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        if !kept(span, &ctx) {
            self.inner.on_follows_from(span, follows, ctx);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let kept = ctx.event_span(event).is_some_and(|span| {
            let mut ext = span.extensions_mut();
            ext.get_mut::<StageData>()
                .map(|data| event::record(data, event))
                .is_some()
        });
        if !kept {
            self.inner.on_event(event, ctx);
        }
    }

    // Entry and exit go to `tracing-opentelemetry` for every span: for a
    // span it does not keep it finds nothing and does nothing, which costs
    // less than finding out here whether the span is ours.
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.inner.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let data = ctx
            .span(&id)
            .and_then(|span| span.extensions_mut().remove::<StageData>());
        match (data, &self.export) {
            (Some(data), Some(export)) => {
                let wanted = export.export_rejected || data.span_context.is_sampled();
                if wanted && !export.batcher.dropped_if_full() {
                    export.batcher.push(data.finish());
                }
            }
            _ => self.inner.on_close(id, ctx),
        }
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        if id == TypeId::of::<WithStageContext>() && self.export.is_some() {
            return Some(&self.lookup as *const WithStageContext as *const ());
        }
        // SAFETY: the inner layer answers for its own types.
        unsafe { self.inner.downcast_raw(id) }
    }
}

/// The OpenTelemetry context of the span with `id`: a stage span's own,
/// or `tracing-opentelemetry`'s.
pub(crate) fn context_of(id: &Id, dispatch: &Dispatch) -> Option<OtelContext> {
    if let Some(with) = dispatch.downcast_ref::<WithStageContext>() {
        if let Some(cx) = (with.0)(dispatch, id) {
            return Some(cx);
        }
    }
    tracing_opentelemetry::get_otel_context(id, dispatch)
}

/// The OpenTelemetry context of `span`, whichever layer keeps it: what
/// `tracing_opentelemetry::OpenTelemetrySpanExt::context` gives, and also
/// for stage spans. Empty for a disabled span or one no layer exports.
///
/// ```
/// use opentelemetry::trace::TraceContextExt;
///
/// let span = tracing::info_span!("not exported");
/// let cx = pipeline_telemetry_otel::span_context(&span);
/// assert!(!cx.span().span_context().is_valid());
/// ```
pub fn span_context(span: &tracing::Span) -> OtelContext {
    span.with_subscriber(|(id, dispatch)| context_of(id, dispatch))
        .flatten()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
