//! The per-layer filter of the log layers: `RUST_LOG` decides which *events*
//! are written, while spans up to `INFO` always stay visible to the log
//! layer, so that an `error!` inside an `info` stage span still finds its
//! `pipeline_id` and `stage` even with `RUST_LOG=error`.

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

use crate::directives::Directives;

/// Targets of the exporters' own dependencies: never exported as OTLP logs,
/// so that exporting cannot feed itself.
const EXPORTER_TARGETS: &[&str] = &["opentelemetry", "hyper", "h2", "tonic", "tower", "reqwest"];

/// Events by the `RUST_LOG` directives; spans at `INFO` and above always, more
/// verbose spans by the filter.
#[derive(Debug)]
pub(crate) struct EventsOnly {
    filter: Directives,
    exclude_exporter_targets: bool,
}

impl EventsOnly {
    pub(crate) fn new(filter: Directives) -> Self {
        Self {
            filter,
            exclude_exporter_targets: false,
        }
    }

    /// Also drops the events of the exporters' own dependencies.
    pub(crate) fn excluding_exporter_targets(mut self) -> Self {
        self.exclude_exporter_targets = true;
        self
    }

    fn excluded(&self, meta: &Metadata<'_>) -> bool {
        self.exclude_exporter_targets
            && EXPORTER_TARGETS.iter().any(|t| {
                meta.target()
                    .strip_prefix(t)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
    }
}

impl<S> Filter<S> for EventsOnly
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if meta.is_span() && *meta.level() <= Level::INFO {
            return true;
        }
        !self.excluded(meta) && Filter::<S>::enabled(&self.filter, meta, cx)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_span() && *meta.level() <= Level::INFO {
            Interest::always()
        } else if self.excluded(meta) {
            Interest::never()
        } else {
            Filter::<S>::callsite_enabled(&self.filter, meta)
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let events = Filter::<S>::max_level_hint(&self.filter).unwrap_or(LevelFilter::TRACE);
        Some(events.max(LevelFilter::INFO))
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        Filter::<S>::on_new_span(&self.filter, attrs, id, ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        Filter::<S>::on_record(&self.filter, id, values, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        Filter::<S>::on_enter(&self.filter, id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        Filter::<S>::on_exit(&self.filter, id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        Filter::<S>::on_close(&self.filter, id, ctx);
    }
}
