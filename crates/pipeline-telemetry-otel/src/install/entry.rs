//! [`WithoutEntry`]: a layer stack spared span entries (and exits).

use tracing::span;
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// A layer stack that is not told of span entries (and, with `exit`, of
/// span exits), for stacks where nothing reads them: each would otherwise
/// cost a per-layer filter check on every entry.
///
/// - The log layers read neither (no span events are formatted), and
///   neither does their filter when it reads only targets and levels.
/// - The trace layers read no entry when no OpenTelemetry context is
///   switched on entry and their filter reads only targets and levels;
///   `tracing-opentelemetry` reads the exit (a span's end time).
pub(crate) struct WithoutEntry<L> {
    inner: L,
    exit: bool,
}

impl<L> WithoutEntry<L> {
    /// `inner`, not told of entries, nor of exits with `exit`.
    pub(crate) fn new(inner: L, exit: bool) -> Self {
        WithoutEntry { inner, exit }
    }
}

impl<S, L> Layer<S> for WithoutEntry<L>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }
    fn on_layer(&mut self, subscriber: &mut S) {
        self.inner.on_layer(subscriber);
    }
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.inner.register_callsite(metadata)
    }
    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.enabled(metadata, ctx)
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.inner.max_level_hint()
    }
    fn event_enabled(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) -> bool {
        self.inner.event_enabled(event, ctx)
    }
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_new_span(attrs, id, ctx);
    }
    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.inner.on_record(id, values, ctx);
    }
    fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_follows_from(id, follows, ctx);
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        self.inner.on_event(event, ctx);
    }
    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        if !self.exit {
            self.inner.on_exit(id, ctx);
        }
    }
    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.inner.on_close(id, ctx);
    }
    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.inner.on_id_change(old, new, ctx);
    }
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            return Some(self as *const Self as *const ());
        }
        // SAFETY: the inner layer answers for its own types.
        unsafe { self.inner.downcast_raw(id) }
    }
}
