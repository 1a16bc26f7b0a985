//! Context across processes: Datadog `x-datadog-*` headers, W3C
//! `traceparent` / `tracestate` and `baggage` (carrying `pipeline_id`)
//! injected from a `tracing` span into a [`Carrier`], and extracted from one
//! on the other side, in the styles `DD_TRACE_PROPAGATION_STYLE` chooses
//! (see [`PropagationConfig`]; all three by default, as ddtrace 4.x).

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Registry;

use crate::carrier::{Carrier, ExtractFrom, InjectInto};
use crate::error::PropagationError;
use crate::fields;
use crate::propagation_style::PropagationConfig;
use crate::propagator::{LastDatadogParentId, Propagator};

/// The baggage key that carries the pipeline run's id.
pub const PIPELINE_ID_KEY: &str = "pipeline_id";

/// Longest accepted `pipeline_id`.
pub const MAX_PIPELINE_ID_LEN: usize = 128;

/// The propagator this crate uses (and installs globally): the styles of
/// [`PropagationConfig::configured`] (by default Datadog headers, W3C trace
/// context and W3C baggage).
pub fn propagator() -> Propagator {
    Propagator::configured()
}

/// A `pipeline_id` from outside, if it is safe to use: 1 to 128 characters of
/// ASCII letters, digits and `-_.:/@+=`. Anything else is dropped.
///
/// ```
/// use pipeline_telemetry_otel::sanitize_pipeline_id;
/// assert_eq!(sanitize_pipeline_id(" run-42 ").as_deref(), Some("run-42"));
/// assert_eq!(sanitize_pipeline_id("42\n{\"status\":\"ok\"}"), None);
/// ```
pub fn sanitize_pipeline_id(raw: &str) -> Option<String> {
    let id = raw.trim();
    let ok = !id.is_empty()
        && id.len() <= MAX_PIPELINE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@+=".contains(&b));
    ok.then(|| id.to_owned())
}

/// The `pipeline_id` in the scope of `span` (its own field or an ancestor's).
fn pipeline_id_of(span: &tracing::Span) -> Option<String> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        fields::lookup(&span).pipeline_id
    })
    .flatten()
}

/// A copy of the context's baggage without `pipeline_id`.
fn baggage_without_pipeline_id(cx: &opentelemetry::Context) -> Baggage {
    let mut copy = Baggage::new();
    for (key, (value, metadata)) in cx.baggage() {
        if key.as_str() != PIPELINE_ID_KEY {
            copy.insert_with_metadata(key.clone(), value.clone(), metadata.clone());
        }
    }
    copy
}

/// Writes the trace context of `span` into `carrier`: `traceparent`,
/// `tracestate`, and `baggage` with the span scope's `pipeline_id` (or the
/// one it received in baggage).
///
/// A disabled span, or a subscriber without the OpenTelemetry layer, writes
/// no `traceparent`.
///
/// ```
/// use pipeline_telemetry_otel::inject_context;
///
/// let span = tracing::info_span!("pipeline.run", pipeline_id = 42);
/// let mut headers = http::HeaderMap::new();
/// inject_context(&span, &mut headers);
/// ```
pub fn inject_context<C: Carrier + ?Sized>(span: &tracing::Span, carrier: &mut C) {
    inject_with(span, pipeline_id_of(span), carrier);
}

/// [`inject_context`] with the `pipeline_id` given rather than looked up in
/// the span's scope: the baggage carries it even where no subscriber with
/// the OpenTelemetry layer is installed (then no `traceparent` is written).
///
/// ```
/// use std::collections::BTreeMap;
/// use pipeline_telemetry_otel::inject_context_with_pipeline_id;
///
/// let span = tracing::info_span!("pipeline.run");
/// let mut headers: BTreeMap<String, String> = BTreeMap::new();
/// inject_context_with_pipeline_id(&span, "run-7", &mut headers);
/// assert_eq!(headers.get("baggage").map(String::as_str), Some("pipeline_id=run-7"));
/// ```
pub fn inject_context_with_pipeline_id<C: Carrier + ?Sized>(
    span: &tracing::Span,
    pipeline_id: &str,
    carrier: &mut C,
) {
    inject_with(span, Some(pipeline_id.to_owned()), carrier);
}

fn inject_with<C: Carrier + ?Sized>(span: &tracing::Span, id: Option<String>, carrier: &mut C) {
    let mut cx = crate::span_context(span);
    let id = id.and_then(|id| sanitize_pipeline_id(&id));
    if let Some(id) = id {
        let mut baggage = baggage_without_pipeline_id(&cx);
        baggage.insert(PIPELINE_ID_KEY, id);
        cx = cx.with_baggage(baggage);
    }
    propagator().inject_context(&cx, &mut InjectInto(carrier));
}

/// [`inject_context`] for the current span.
///
/// ```
/// use std::collections::BTreeMap;
/// use pipeline_telemetry_otel::inject_current_context;
///
/// let mut amqp_headers: BTreeMap<String, String> = BTreeMap::new();
/// inject_current_context(&mut amqp_headers);
/// ```
pub fn inject_current_context<C: Carrier + ?Sized>(carrier: &mut C) {
    inject_context(&tracing::Span::current(), carrier);
}

/// What [`extract`] found in a carrier.
#[derive(Debug, Clone)]
pub struct ExtractedContext {
    /// The sanitised `pipeline_id` from the baggage (see
    /// [`sanitize_pipeline_id`]).
    pub pipeline_id: Option<String>,
    context: opentelemetry::Context,
}

impl ExtractedContext {
    /// True when the carrier held a valid trace context (in one of the
    /// extracted styles) with a parent span id.
    pub fn is_valid(&self) -> bool {
        self.context.span().span_context().is_valid()
    }

    /// The remote trace id as 32 lower-case hex digits.
    pub fn trace_id(&self) -> Option<String> {
        let cx = self.context.span().span_context().clone();
        cx.is_valid().then(|| cx.trace_id().to_string())
    }

    /// The remote trace id in Datadog's form: the lower 64 bits, decimal.
    pub fn dd_trace_id(&self) -> Option<u64> {
        let cx = self.context.span().span_context().clone();
        cx.is_valid()
            .then(|| u128::from_be_bytes(cx.trace_id().to_bytes()) as u64)
    }

    /// ddtrace's `_dd.parent_id`: when the Datadog headers and a W3C
    /// `traceparent` of the same trace named different parents, the span id
    /// of the W3C one is the parent and this is the last Datadog span id
    /// (16 hex digits, from tracestate's `p` or the Datadog parent id).
    pub fn dd_parent_id(&self) -> Option<&str> {
        self.context
            .get::<LastDatadogParentId>()
            .map(|p| p.0.as_str())
    }

    /// The remote parent span id as Datadog writes it (decimal).
    pub fn dd_parent_span_id(&self) -> Option<u64> {
        let cx = self.context.span().span_context().clone();
        cx.is_valid()
            .then(|| u64::from_be_bytes(cx.span_id().to_bytes()))
    }

    /// The OpenTelemetry context (remote span plus baggage).
    pub fn context(&self) -> &opentelemetry::Context {
        &self.context
    }

    /// Makes the remote span the parent of `span`, so that `span` continues
    /// the same trace and carries the same baggage. Call it before the span
    /// is first entered.
    ///
    /// ```
    /// use pipeline_telemetry_otel::extract;
    ///
    /// let headers = http::HeaderMap::new();
    /// let remote = extract(&headers);
    /// let span = tracing::info_span!(
    ///     "consume",
    ///     pipeline_id = remote.pipeline_id.as_deref().unwrap_or("")
    /// );
    /// if let Err(e) = remote.set_parent(&span) {
    ///     // No (valid) context in the headers: `span` starts a new trace.
    ///     let _ = e;
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`PropagationError::NoRemoteContext`] when the carrier held neither a
    /// valid trace context nor baggage, and [`PropagationError::SetParent`]
    /// when the span cannot take the parent (already entered, disabled, or
    /// no OpenTelemetry layer in the subscriber).
    pub fn set_parent(&self, span: &tracing::Span) -> Result<(), PropagationError> {
        if !self.is_valid() && self.context.baggage().is_empty() {
            return Err(PropagationError::NoRemoteContext);
        }
        span.set_parent(self.context.clone())
            .map_err(PropagationError::SetParent)
    }
}

/// Reads the configured styles from `carrier` (by default `x-datadog-*`,
/// `traceparent`, `tracestate` and `baggage`), as ddtrace 4.x does: every
/// style is read, the first to give a context wins, and a W3C context of
/// the same trace lends it its parent span id and tracestate. Malformed
/// or hostile values are ignored (never a panic): an invalid `traceparent`
/// gives no parent, and a `pipeline_id` that fails [`sanitize_pipeline_id`]
/// is dropped from the baggage.
///
/// ```
/// use pipeline_telemetry_otel::extract;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
/// headers.insert("baggage", "pipeline_id=42".parse().unwrap());
/// let remote = extract(&headers);
/// assert_eq!(remote.pipeline_id.as_deref(), Some("42"));
/// assert_eq!(remote.trace_id().as_deref(), Some("0af7651916cd43dd8448eb211c80319c"));
/// ```
pub fn extract<C: Carrier + ?Sized>(carrier: &C) -> ExtractedContext {
    extract_with(PropagationConfig::configured(), carrier)
}

/// [`extract`] with the styles of `config` rather than the process's.
///
/// ```
/// use std::collections::BTreeMap;
/// use pipeline_telemetry_otel::{extract_with, PropagationConfig, PropagationStyle};
///
/// let headers = BTreeMap::from([
///     ("x-datadog-trace-id".to_owned(), "1234".to_owned()),
///     ("x-datadog-parent-id".to_owned(), "5678".to_owned()),
/// ]);
/// let datadog = PropagationConfig::default();
/// assert_eq!(extract_with(&datadog, &headers).dd_trace_id(), Some(1234));
/// let w3c_only = PropagationConfig {
///     extract: vec![PropagationStyle::TraceContext],
///     ..PropagationConfig::default()
/// };
/// assert!(!extract_with(&w3c_only, &headers).is_valid());
/// ```
pub fn extract_with<C: Carrier + ?Sized>(
    config: &PropagationConfig,
    carrier: &C,
) -> ExtractedContext {
    let cx = Propagator::new(config.clone())
        .extract_with_context(&opentelemetry::Context::new(), &ExtractFrom(carrier));
    let raw = cx
        .baggage()
        .get(PIPELINE_ID_KEY)
        .map(|v| v.as_str().to_owned());
    let pipeline_id = raw.as_deref().and_then(sanitize_pipeline_id);
    let context = if raw.is_some() {
        let mut baggage = baggage_without_pipeline_id(&cx);
        if let Some(id) = &pipeline_id {
            baggage.insert(PIPELINE_ID_KEY, id.clone());
        }
        cx.with_baggage(baggage)
    } else {
        cx
    };
    ExtractedContext {
        pipeline_id,
        context,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn valid_context_round_trips_through_a_map() {
        let remote = extract(&map(&[
            ("traceparent", TP),
            ("baggage", "pipeline_id=run-7,team=data"),
        ]));
        assert!(remote.is_valid());
        assert_eq!(remote.pipeline_id.as_deref(), Some("run-7"));
        assert_eq!(remote.dd_trace_id(), Some(0x8448_eb21_1c80_319c));
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        propagator().inject_context(remote.context(), &mut InjectInto(&mut out));
        assert!(out
            .get("traceparent")
            .is_some_and(|v| v.contains("0af7651916cd43dd8448eb211c80319c")));
        assert!(out
            .get("baggage")
            .is_some_and(|v| v.contains("pipeline_id=run-7")));
    }

    #[test]
    fn hostile_values_give_no_context_and_no_pipeline_id() {
        let hostile = [
            (
                "traceparent",
                "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            ),
            (
                "traceparent",
                "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            ),
            (
                "traceparent",
                "00-ZZf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("traceparent", "\u{0}\u{ffff}-é-💥"),
            ("traceparent", ""),
        ];
        for (k, v) in hostile {
            let remote = extract(&map(&[(k, v)]));
            assert!(!remote.is_valid(), "{v:?}");
            assert!(remote.trace_id().is_none());
        }
        let remote = extract(&map(&[
            ("traceparent", TP),
            ("baggage", "pipeline_id=42%0A%7B%22status%22%3A%22ok%22%7D"),
        ]));
        assert!(remote.is_valid());
        assert_eq!(remote.pipeline_id, None);
        assert!(remote.context().baggage().get(PIPELINE_ID_KEY).is_none());
    }

    #[test]
    fn huge_and_malformed_baggage_never_panics() {
        let many = (0..10_000)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        for b in [
            many.as_str(),
            ";;;,,,===",
            "pipeline_id",
            "=42",
            "pipeline_id=%ZZ",
            "pipeline_id=\u{1F4A5}",
        ] {
            let remote = extract(&map(&[("traceparent", TP), ("baggage", b)]));
            assert!(remote
                .pipeline_id
                .as_deref()
                .is_none_or(|id| sanitize_pipeline_id(id).is_some()));
        }
    }

    #[test]
    fn set_parent_needs_something_to_continue() {
        let span = tracing::Span::none();
        assert!(matches!(
            extract(&map(&[])).set_parent(&span),
            Err(PropagationError::NoRemoteContext)
        ));
    }
}
