//! [`Propagator`]: the styles of [`PropagationConfig`] as one OpenTelemetry
//! `TextMapPropagator`, extracting as ddtrace-py 4.x's
//! `HTTPPropagator.extract` does (every configured style read, the first
//! that gives a context wins, tracecontext of the same trace adds its span
//! id and tracestate; baggage read apart).

use opentelemetry::propagation::{
    text_map_propagator::FieldIter, Extractor, Injector, TextMapPropagator,
};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

use crate::datadog_propagation::{
    extract_datadog, from_tracecontext, inject_datadog, resolve, to_span_context, with_last_parent,
    DATADOG_HEADERS,
};
use crate::propagation_style::{PropagationConfig, PropagationStyle};

/// `_dd.parent_id` of an extracted context (kept in its OpenTelemetry
/// context): the last Datadog span id, 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LastDatadogParentId(pub(crate) String);

/// Marks an extracted context whose primary (Datadog) style carried no
/// sampling priority: ddtrace samples such a trace as a root of its own,
/// and so does [`DatadogSampler`](crate::DatadogSampler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoUpstreamPriority;

/// Injects and extracts the configured styles (`datadog`, `tracecontext`,
/// `baggage`).
///
/// ```
/// use std::collections::HashMap;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
/// use pipeline_telemetry_otel::{Propagator, PropagationConfig};
///
/// let mut headers = HashMap::new();
/// headers.insert("x-datadog-trace-id".to_owned(), "1234".to_owned());
/// headers.insert("x-datadog-parent-id".to_owned(), "5678".to_owned());
/// let cx = Propagator::new(PropagationConfig::default()).extract(&headers);
/// assert_eq!(cx.span().span_context().span_id().to_string(), format!("{:016x}", 5678));
/// ```
#[derive(Debug, Clone)]
pub struct Propagator {
    config: PropagationConfig,
    fields: Vec<String>,
}

impl Propagator {
    /// A propagator of `config`'s styles.
    pub fn new(config: PropagationConfig) -> Self {
        let mut fields = Vec::new();
        let styles = config.inject.iter().chain(&config.extract);
        for style in styles {
            let names: &[&str] = match style {
                PropagationStyle::Datadog => &DATADOG_HEADERS,
                PropagationStyle::TraceContext => &["traceparent", "tracestate"],
                PropagationStyle::Baggage => &["baggage"],
            };
            for name in names {
                if !fields.iter().any(|f| f == name) {
                    fields.push((*name).to_owned());
                }
            }
        }
        Propagator { config, fields }
    }

    /// The propagator of this process's settings
    /// ([`PropagationConfig::configured`]).
    pub fn configured() -> Self {
        Self::new(PropagationConfig::configured().clone())
    }

    /// Its settings.
    pub fn config(&self) -> &PropagationConfig {
        &self.config
    }
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let c = &self.config;
        if c.injects(PropagationStyle::Baggage) {
            BaggagePropagator::new().inject_context(cx, injector);
        }
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return;
        }
        if c.injects(PropagationStyle::Datadog) {
            inject_datadog(sc, c.x_datadog_tags_max_length, injector);
        }
        if c.injects(PropagationStyle::TraceContext) {
            let sc = with_last_parent(sc);
            let cx = Context::new().with_remote_span_context(sc);
            TraceContextPropagator::new().inject_context(&cx, injector);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut found = Vec::new();
        for style in &self.config.extract {
            match style {
                PropagationStyle::Datadog => {
                    if let Some(dd) = extract_datadog(extractor) {
                        found.push((false, dd));
                    }
                }
                PropagationStyle::TraceContext => {
                    let w3c = TraceContextPropagator::new().extract(extractor);
                    let span = w3c.span();
                    let sc = span.span_context();
                    if sc.is_valid() {
                        found.push((true, from_tracecontext(sc)));
                    }
                }
                PropagationStyle::Baggage => {}
            }
        }
        let datadog_primary = found.first().is_some_and(|(is_w3c, _)| !is_w3c);
        let mut out = cx.clone();
        if let Some(primary) = resolve(found) {
            if let Some(sc) = to_span_context(&primary, datadog_primary) {
                out = out.with_remote_span_context(sc);
                if primary.sampling_priority.is_none() {
                    out = out.with_value(NoUpstreamPriority);
                }
                if let Some(id) = primary.last_parent_id {
                    out = out.with_value(LastDatadogParentId(id));
                }
            }
        }
        if self.config.extracts(PropagationStyle::Baggage) {
            out = BaggagePropagator::new().extract_with_context(&out, extractor);
        }
        out
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}
