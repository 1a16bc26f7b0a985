//! A finished OpenTelemetry span as a Datadog span: a port of
//! datadog-agent's `pkg/trace/transform/transform.go` (`OtelSpanToDDSpan`,
//! with the Agent's defaults), so that a span sent to the Agent's native
//! intake carries the name, resource, type, meta, metrics and error fields
//! the Agent would have given it had it come over OTLP.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::Value;

use super::json;
use super::names::{self, dd_key, value_str, View};

/// A Datadog span, as the `v0.4` payload has it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DdSpan<'a> {
    pub(crate) service: Cow<'a, str>,
    pub(crate) name: Cow<'a, str>,
    pub(crate) resource: Cow<'a, str>,
    pub(crate) r#type: Cow<'a, str>,
    pub(crate) trace_id: u64,
    /// The high 64 bits of the 128-bit trace id (`_dd.p.tid` on the chunk).
    pub(crate) trace_id_high: u64,
    pub(crate) span_id: u64,
    pub(crate) parent_id: u64,
    pub(crate) start: i64,
    pub(crate) duration: i64,
    pub(crate) error: i32,
    pub(crate) meta: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub(crate) metrics: BTreeMap<Cow<'a, str>, f64>,
    pub(crate) links: Vec<DdLink<'a>>,
}

/// A span link of the `v0.4` payload.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DdLink<'a> {
    pub(crate) trace_id: u64,
    pub(crate) trace_id_high: u64,
    pub(crate) span_id: u64,
    pub(crate) attributes: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub(crate) tracestate: String,
    pub(crate) flags: u32,
}

fn nanos(t: std::time::SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn split(trace_id: opentelemetry::TraceId) -> (u64, u64) {
    let id = u128::from_be_bytes(trace_id.to_bytes());
    (id as u64, (id >> 64) as u64)
}

fn id64(span_id: opentelemetry::SpanId) -> u64 {
    u64::from_be_bytes(span_id.to_bytes())
}

/// The keys the Agent maps from `datadog.*` attributes and never
/// overwrites from other attributes once set.
fn is_meta_key(k: &str) -> bool {
    matches!(
        k,
        "env" | "version" | "http.status_code" | "error.message" | "error.type" | "error.stack"
    )
}

impl<'a> DdSpan<'a> {
    fn set_meta(&mut self, key: Cow<'a, str>, value: Cow<'a, str>) {
        match key.as_ref() {
            "operation.name" => self.name = value,
            "service.name" => self.service = value,
            "resource.name" => self.resource = value,
            "span.type" => self.r#type = value,
            "analytics.event" => {
                if let Ok(on) = value.to_lowercase().parse::<bool>() {
                    self.metrics
                        .insert(Cow::Borrowed("_dd1.sr.eausr"), f64::from(u8::from(on)));
                }
            }
            _ => {
                self.meta.insert(key, value);
            }
        }
    }

    /// `setMetaOTLPWithSemConvMappings`.
    fn set_mapped_meta(&mut self, key: &'a str, value: &'a Value) {
        let key = dd_key(key);
        if key.is_empty()
            || (is_meta_key(&key) && self.meta.get(&key).is_some_and(|v| !v.is_empty()))
        {
            return;
        }
        self.set_meta(key, value_str(value));
    }

    /// `setMetricOTLPWithSemConvMappings`.
    fn set_mapped_metric(&mut self, key: &'a str, value: f64) {
        let key = dd_key(key);
        if key.is_empty() || (is_meta_key(&key) && self.metrics.contains_key(&key)) {
            return;
        }
        let key = if key == "sampling.priority" {
            Cow::Borrowed("_sampling_priority_v1")
        } else {
            key
        };
        self.metrics.insert(key, value);
    }
}

/// `otelSpanToDDSpanMinimal`: identity, names, error flag, kind, HTTP status,
/// the top-level and measured marks.
fn minimal<'a>(v: &View<'a>) -> DdSpan<'a> {
    let s = v.span;
    let (trace_id, trace_id_high) = split(s.span_context.trace_id());
    let start = nanos(s.start_time);
    let or = |dd: &str, derived: Cow<'a, str>| names::overridden(v, dd, derived);
    let mut span = DdSpan {
        service: or("datadog.service", names::service(v)),
        name: or("datadog.name", names::operation_name(v)),
        resource: or("datadog.resource", names::resource(v)),
        r#type: or("datadog.type", names::span_type(v)),
        trace_id,
        trace_id_high,
        span_id: id64(s.span_context.span_id()),
        parent_id: id64(s.parent_span_id),
        start,
        duration: nanos(s.end_time).saturating_sub(start).max(0),
        error: 0,
        meta: BTreeMap::new(),
        metrics: BTreeMap::new(),
        links: Vec::new(),
    };
    span.error = match v.attr_num("datadog.error") {
        Some(e) => i32::try_from(e).unwrap_or(1),
        None => i32::from(matches!(s.status, Status::Error { .. })),
    };
    let kind = v.attr_str("datadog.span.kind");
    let kind = if kind.is_empty() {
        Cow::Borrowed(names::kind_str(&s.span_kind))
    } else {
        kind
    };
    span.meta.insert(Cow::Borrowed("span.kind"), kind);
    let code = v
        .attr_num("datadog.http_status_code")
        .or_else(|| v.attr_num("http.response.status_code"))
        .or_else(|| v.attr_num("http.status_code"))
        .unwrap_or(0);
    if code != 0 {
        span.meta.insert(
            Cow::Borrowed("http.status_code"),
            Cow::Owned(code.to_string()),
        );
    }
    // Top level as the Agent marks OTLP spans by kind (the trace's root,
    // server and consumer spans), and the local root of a trace continued
    // from another process, as Datadog's tracers mark it. Sent as computed
    // (`Datadog-Client-Computed-Top-Level`): the Agent's own guess would
    // take any span whose parent is in a later payload (a long run's
    // stages, flushed before the run ends) for a root.
    if span.parent_id == 0
        || s.parent_span_is_remote
        || matches!(s.span_kind, SpanKind::Server | SpanKind::Consumer)
    {
        span.metrics.insert(Cow::Borrowed("_dd.top_level"), 1.0);
    }
    if v.attr_num("_dd.measured") == Some(1)
        || matches!(s.span_kind, SpanKind::Client | SpanKind::Producer)
    {
        span.metrics.insert(Cow::Borrowed("_dd.measured"), 1.0);
    }
    span
}

/// `OtelSpanToDDSpan`.
pub(crate) fn convert<'a>(v: &View<'a>) -> DdSpan<'a> {
    let s = v.span;
    let mut span = minimal(v);
    for (dd, meta) in [
        ("datadog.env", "env"),
        ("datadog.version", "version"),
        ("datadog.http_status_code", "http.status_code"),
        ("datadog.error.msg", "error.message"),
        ("datadog.error.type", "error.type"),
        ("datadog.error.stack", "error.stack"),
    ] {
        let value = v.attr_str(dd);
        if !value.is_empty() {
            span.meta.insert(Cow::Borrowed(meta), value);
        }
    }
    for (key, value) in v.resource.iter() {
        span.set_mapped_meta(key.as_str(), value);
    }
    for kv in s.instrumentation_scope.attributes() {
        span.meta
            .insert(Cow::Borrowed(kv.key.as_str()), value_str(&kv.value));
    }
    span.meta.insert(
        Cow::Borrowed("otel.trace_id"),
        Cow::Owned(format!(
            "{:032x}",
            u128::from_be_bytes(s.span_context.trace_id().to_bytes())
        )),
    );
    if !span.meta.contains_key("version") {
        if let Some(version) = v
            .resource
            .get(&opentelemetry::Key::from_static_str("service.version"))
        {
            let version = value_str(&version).into_owned();
            if !version.is_empty() {
                span.meta
                    .insert(Cow::Borrowed("version"), Cow::Owned(version));
            }
        }
    }
    for kv in &s.attributes {
        let key = kv.key.as_str();
        if key.starts_with("datadog.") {
            continue;
        }
        match &kv.value {
            Value::I64(i) => span.set_mapped_metric(key, *i as f64),
            Value::F64(f) => span.set_mapped_metric(key, *f),
            other => span.set_mapped_meta(key, other),
        }
    }
    if !span.meta.contains_key("env") {
        if let Some(env) = names::env(v) {
            span.meta.insert(Cow::Borrowed("env"), Cow::Owned(env));
        }
    }
    span.links = s
        .links
        .iter()
        .map(|l| {
            let (trace_id, trace_id_high) = split(l.span_context.trace_id());
            DdLink {
                trace_id,
                trace_id_high,
                span_id: id64(l.span_context.span_id()),
                attributes: l
                    .attributes
                    .iter()
                    .map(|kv| (Cow::Borrowed(kv.key.as_str()), value_str(&kv.value)))
                    .collect(),
                tracestate: l.span_context.trace_state().header(),
                flags: u32::from(l.span_context.trace_flags().to_u8()),
            }
        })
        .collect();
    if !s.events.is_empty() {
        span.meta
            .insert(Cow::Borrowed("events"), Cow::Owned(json::events(&s.events)));
        if s.events
            .iter()
            .any(|e| e.name.eq_ignore_ascii_case("exception"))
        {
            span.meta.insert(
                Cow::Borrowed("_dd.span_events.has_exception"),
                Cow::Borrowed("true"),
            );
        }
    }
    let state = s.span_context.trace_state().header();
    if !state.is_empty() {
        span.meta
            .insert(Cow::Borrowed("w3c.tracestate"), Cow::Owned(state));
    }
    let scope = &s.instrumentation_scope;
    if !scope.name().is_empty() {
        span.meta.insert(
            Cow::Borrowed("otel.scope.name"),
            Cow::Borrowed(scope.name()),
        );
    }
    if let Some(version) = scope.version().filter(|v| !v.is_empty()) {
        span.meta
            .insert(Cow::Borrowed("otel.scope.version"), Cow::Borrowed(version));
    }
    let (code, description) = match &s.status {
        Status::Unset => ("Unset", None),
        Status::Ok => ("Ok", None),
        Status::Error { description } => ("Error", Some(description)),
    };
    span.meta
        .insert(Cow::Borrowed("otel.status_code"), Cow::Borrowed(code));
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        span.meta.insert(
            Cow::Borrowed("otel.status_description"),
            Cow::Borrowed(d.as_ref()),
        );
    }
    if ["error.message", "error.type", "error.stack"]
        .iter()
        .any(|k| !span.meta.contains_key(*k))
    {
        span.error = status_to_error(v, &mut span);
    }
    span
}

/// `Status2Error`: the error flag of an errored span, and its
/// `error.message` / `error.type` / `error.stack` from its exception events,
/// else from the status description or the HTTP status.
fn status_to_error<'a>(v: &View<'a>, span: &mut DdSpan<'a>) -> i32 {
    let Status::Error { description } = &v.span.status else {
        return 0;
    };
    for event in v.span.events.iter() {
        if !event.name.eq_ignore_ascii_case("exception") {
            continue;
        }
        for (otel, dd) in [
            ("exception.message", "error.message"),
            ("exception.type", "error.type"),
            ("exception.stacktrace", "error.stack"),
        ] {
            if let Some(kv) = event.attributes.iter().find(|kv| kv.key.as_str() == otel) {
                span.meta.insert(Cow::Borrowed(dd), value_str(&kv.value));
            }
        }
    }
    if !span.meta.contains_key("error.message") {
        if !description.is_empty() {
            span.meta.insert(
                Cow::Borrowed("error.message"),
                Cow::Borrowed(description.as_ref()),
            );
        } else {
            for key in ["http.response.status_code", "http.status_code"] {
                let Some(code) = span.meta.get(key).cloned() else {
                    continue;
                };
                let message = match span.meta.get("http.status_text") {
                    Some(text) => Cow::Owned(format!("{code} {text}")),
                    None => code,
                };
                span.meta.insert(Cow::Borrowed("error.message"), message);
                break;
            }
        }
    }
    1
}

#[cfg(test)]
#[path = "span_tests.rs"]
mod tests;
