//! Filter directives (`RUST_LOG` syntax) as the cheapest filter that keeps
//! their meaning: directives of targets and levels only become a static
//! [`Targets`] filter, which decides per call site and costs nothing per
//! span; directives naming spans or fields (`[span{field=value}]`) need an
//! [`EnvFilter`], which tracks every span (a lock per enter and exit).

use std::str::FromStr;

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{EnvFilter, LevelFilter, ParseError, Targets};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

/// Parsed filter directives.
#[derive(Debug)]
pub(crate) enum Directives {
    /// Targets and levels only.
    Static(Targets),
    /// With span or field filters.
    Dynamic(Box<EnvFilter>),
}

impl Directives {
    /// Whether the filter reads spans (their fields, entry and exit), not
    /// only targets and levels.
    pub(crate) fn reads_spans(&self) -> bool {
        matches!(self, Directives::Dynamic(_))
    }

    /// Parses `directives` (e.g. `info,my_crate=debug`).
    pub(crate) fn parse(directives: &str) -> Result<Self, ParseError> {
        if directives.contains(['[', '{']) {
            EnvFilter::builder()
                .parse(directives)
                .map(|e| Self::Dynamic(Box::new(e)))
        } else {
            Targets::from_str(directives).map(Self::Static)
        }
    }
}

impl<S> Filter<S> for Directives
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match self {
            Self::Static(t) => Filter::<S>::enabled(t, meta, cx),
            Self::Dynamic(e) => Filter::<S>::enabled(&**e, meta, cx),
        }
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        match self {
            Self::Static(t) => Filter::<S>::callsite_enabled(t, meta),
            Self::Dynamic(e) => Filter::<S>::callsite_enabled(&**e, meta),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match self {
            Self::Static(t) => Filter::<S>::max_level_hint(t),
            Self::Dynamic(e) => Filter::<S>::max_level_hint(&**e),
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Self::Dynamic(e) = self {
            Filter::<S>::on_new_span(&**e, attrs, id, ctx);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Self::Dynamic(e) = self {
            Filter::<S>::on_record(&**e, id, values, ctx);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Self::Dynamic(e) = self {
            Filter::<S>::on_enter(&**e, id, ctx);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Self::Dynamic(e) = self {
            Filter::<S>::on_exit(&**e, id, ctx);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Self::Dynamic(e) = self {
            Filter::<S>::on_close(&**e, id, ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;

    #[test]
    fn targets_and_levels_are_static_span_filters_dynamic() {
        assert!(matches!(
            Directives::parse("info,etl=debug,hyper=off"),
            Ok(Directives::Static(_))
        ));
        assert!(matches!(
            Directives::parse("warn,[pipeline.stage{stage=load}]=debug"),
            Ok(Directives::Dynamic(_))
        ));
        assert!(Directives::parse("etl=loud").is_err());
    }

    #[derive(Clone, Default)]
    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl<S: Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut v = self.0.lock().unwrap_or_else(|p| p.into_inner());
            v.push(event.metadata().target().to_owned());
        }
    }

    fn seen_with(directives: &str) -> Vec<String> {
        let seen = Seen::default();
        let filter = Directives::parse(directives).expect("directives");
        let subscriber = tracing_subscriber::registry().with(seen.clone().with_filter(filter));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "etl", "kept at debug");
            tracing::debug!(target: "other", "dropped at debug");
            tracing::info!(target: "other", "kept at info");
            let span = tracing::info_span!("pipeline.stage", stage = "load");
            span.in_scope(|| tracing::debug!(target: "other", "kept in load"));
        });
        let v = seen.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        v
    }

    #[test]
    fn static_and_dynamic_directives_filter_as_rust_log_does() {
        assert_eq!(seen_with("info,etl=debug"), ["etl", "other"]);
        assert_eq!(
            seen_with("info,etl=debug,[pipeline.stage{stage=load}]=debug"),
            ["etl", "other", "other"]
        );
    }
}
