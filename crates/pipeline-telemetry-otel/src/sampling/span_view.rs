//! What a sampling rule sees of a span about to start: its service,
//! operation name, resource and tags as Datadog will show them, named by
//! the same port of the Agent's OTLP mapping that the trace intake path
//! uses (`native::names`), after the run and stage fields this crate
//! derives at export (`datadog_fields`).

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;

use super::rules::TagValue;
use crate::datadog_fields::{derive, SCOPE};
use crate::native::names::{self, View};

/// A span as rules match it.
pub(crate) struct RuleView {
    span: SpanData,
}

impl RuleView {
    /// The span of `name`, `kind` and `attributes` (those known at its
    /// start) as the exporter would see it.
    pub(crate) fn new(name: &str, kind: &SpanKind, attributes: &[KeyValue]) -> Self {
        let now = SystemTime::UNIX_EPOCH;
        let mut span = SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: kind.clone(),
            name: Cow::Owned(name.to_owned()),
            start_time: now,
            end_time: now,
            attributes: attributes.to_vec(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder(SCOPE).build(),
        };
        derive(&mut span);
        RuleView { span }
    }

    /// (service, operation name, resource), each `datadog.*` override first,
    /// as the Agent's mapping names them.
    pub(crate) fn names<'a>(
        &'a self,
        resource: &'a Resource,
    ) -> (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>) {
        let v = View {
            span: &self.span,
            resource,
        };
        let or = |dd: &str, derived: Cow<'a, str>| names::overridden(&v, dd, derived);
        (
            or("datadog.service", names::service(&v)),
            or("datadog.name", names::operation_name(&v)),
            or("datadog.resource", names::resource(&v)),
        )
    }

    /// The tag `key`: a span attribute (the last one written), else `env`
    /// as the Agent derives it.
    pub(crate) fn tag<'a>(&'a self, key: &str, env: Option<&'a str>) -> Option<TagValue<'a>> {
        let value = self
            .span
            .attributes
            .iter()
            .rev()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value);
        match value {
            Some(Value::String(s)) => Some(TagValue::Str(s.as_str())),
            Some(Value::I64(i)) => Some(TagValue::Int(*i)),
            Some(Value::F64(f)) => Some(TagValue::Float(*f)),
            Some(Value::Bool(b)) => Some(TagValue::Str(if *b { "true" } else { "false" })),
            Some(_) => None,
            None if key == "env" => env.map(TagValue::Str),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::{AgentRates, DatadogSampler, SamplingConfig};
    use opentelemetry::trace::TraceId;
    use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};

    /// Rules see the names Datadog shows: an HTTP server span as
    /// `http.server.request` on `GET /health`, a run span by its pipeline
    /// (derived at export), a span's own `service.name` and `datadog.*`.
    #[test]
    fn rules_match_the_names_datadog_shows() {
        let rules = r#"[
            {"sample_rate": 0, "name": "http.server.request", "resource": "GET /health"},
            {"sample_rate": 0, "name": "pipeline.run", "resource": "nightly"},
            {"sample_rate": 0, "service": "billing"},
            {"sample_rate": 0, "resource": "renamed"},
            {"sample_rate": 0, "tags": {"env": "prod"}, "name": "internal"}
        ]"#;
        let config = SamplingConfig::new()
            .with_rules_json(rules)
            .expect("rules")
            .with_sample_rate(1.0);
        let sampler = DatadogSampler::new(&config, "etl", Some("prod"), &AgentRates::new());
        let decide = |name: &str, kind: SpanKind, attrs: Vec<KeyValue>| {
            let r = sampler.should_sample(None, TraceId::from(99), name, &kind, &attrs, &[]);
            r.decision == SamplingDecision::RecordAndSample
        };
        let http = |route: &str| {
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", route.to_owned()),
            ]
        };
        assert!(!decide("GET /health", SpanKind::Server, http("/health")));
        assert!(decide("GET /items", SpanKind::Server, http("/items")));
        assert!(decide("GET /health", SpanKind::Client, http("/health")));
        let run = |p: &str| vec![KeyValue::new("pipeline", p.to_owned())];
        assert!(!decide("pipeline.run", SpanKind::Internal, run("nightly")));
        assert!(decide("pipeline.run", SpanKind::Internal, run("hourly")));
        let billing = vec![KeyValue::new("service.name", "billing")];
        assert!(!decide("charge", SpanKind::Client, billing));
        let renamed = vec![KeyValue::new("datadog.resource", "renamed")];
        assert!(!decide("x", SpanKind::Client, renamed));
        // An internal span without a name of its own: Datadog's `internal`;
        // `env` from the configuration.
        assert!(!decide("work", SpanKind::Internal, Vec::new()));
        assert!(decide("work", SpanKind::Producer, Vec::new()));
    }
}
