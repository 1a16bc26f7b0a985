//! [`DatadogSampler`]: ddtrace-py 4.16's `DatadogSampler.sample_or_discard`
//! and `_set_sampling_tags` as an OpenTelemetry [`ShouldSample`].

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SamplingResult, ShouldSample};
use opentelemetry_sdk::Resource;

use super::agent_rates::AgentRates;
use super::limiter::RateLimiter;
use super::rules::{Provenance, Rule};
use super::span_view::RuleView;
use super::SamplingConfig;
use crate::propagator::NoUpstreamPriority;

/// ddtrace's `SAMPLING_KNUTH_FACTOR`, the same in the Agent and every
/// Datadog tracer, so that a trace is kept or dropped alike everywhere.
const KNUTH_FACTOR: u64 = 1_111_111_111_111_111_111;
/// 2^64 as `f64`: ddtrace's threshold is `rate * MAX_UINT_64BITS`, a float.
const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;

/// `USER_KEEP`, `USER_REJECT`: the priorities of rule decisions.
const USER_KEEP: i64 = 2;
const USER_REJECT: i64 = -1;
/// `AUTO_KEEP`, `AUTO_REJECT`: the priorities of Agent-rate and default
/// decisions.
const AUTO_KEEP: i64 = 1;
const AUTO_REJECT: i64 = 0;

/// `SamplingMechanism` values, written as `_dd.p.dm=-<n>`.
const DEFAULT: u8 = 0;
const AGENT_RATE_BY_SERVICE: u8 = 1;
const LOCAL_USER_TRACE_SAMPLING_RULE: u8 = 3;
const REMOTE_USER_TRACE_SAMPLING_RULE: u8 = 11;
const REMOTE_DYNAMIC_TRACE_SAMPLING_RULE: u8 = 12;

/// `_dd.rule_psr`, `_dd.agent_psr`, `_dd.limit_psr`, `_dd.p.ksr`.
pub(crate) const RULE_PSR: &str = "_dd.rule_psr";
pub(crate) const AGENT_PSR: &str = "_dd.agent_psr";
pub(crate) const LIMIT_PSR: &str = "_dd.limit_psr";
pub(crate) const KSR: &str = "_dd.p.ksr";

/// A local root's decision: what `sample_or_discard` sets on the span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub(crate) sampled: bool,
    /// Rejected by a rule with `discard`: not even recorded.
    pub(crate) discard: bool,
    pub(crate) priority: i64,
    pub(crate) mechanism: u8,
    pub(crate) rule_psr: Option<f64>,
    pub(crate) agent_psr: Option<f64>,
    pub(crate) limit_psr: Option<f64>,
    pub(crate) ksr: Option<String>,
}

/// `RateSampler.sample`: kept when `id * KNUTH mod 2^64 <= rate * (2^64-1)`,
/// compared exactly as Python compares an int with a float.
fn knuth_keep(trace_id_low: u64, rate: f64) -> bool {
    let threshold = rate * TWO_POW_64;
    let hash = trace_id_low.wrapping_mul(KNUTH_FACTOR);
    threshold >= TWO_POW_64 || (threshold >= 0.0 && hash <= threshold as u64)
}

/// The tracestate `dd` member with the decision: `s:<priority>` set, and
/// `t.dm:-<mechanism>` unless the upstream set a decision maker already
/// (ddtrace never overwrites `_dd.p.dm`); the other items kept.
fn with_decision(state: TraceState, d: &Decision) -> TraceState {
    let mut items: Vec<String> = state
        .get("dd")
        .map(|dd| {
            dd.split(';')
                .filter(|i| !i.is_empty() && !i.starts_with("s:"))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    items.insert(0, format!("s:{}", d.priority));
    if !items.iter().any(|i| i.starts_with("t.dm:")) {
        items.push(format!("t.dm:-{}", d.mechanism));
    }
    state.insert("dd", items.join(";")).unwrap_or(state)
}

/// `format_rate`: at most 6 decimals, trailing zeros dropped.
fn format_rate(rate: f64) -> String {
    let rounded = (rate * 1e6 + 0.5).floor() / 1e6;
    let s = format!("{rounded:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[derive(Debug)]
struct Inner {
    rules: Vec<Rule>,
    limiter: RateLimiter,
    /// This sampler's service and env's rate from the Agent, kept current
    /// by [`AgentRates`].
    rate_slot: Arc<AtomicU64>,
    /// The resource of the spans: their service and env as the Agent
    /// reads them.
    resource: Resource,
    env: Option<String>,
}

/// The Datadog sampler of [`SamplingConfig`] and the Agent's
/// [`AgentRates`], as an OpenTelemetry sampler (`OtelBuilder` installs it;
/// it can also be given to any `SdkTracerProvider` with `with_sampler`).
///
/// A span with a valid parent, local or remote, follows the parent's
/// sampled flag and keeps its tracestate (where the Datadog priority
/// `s:` and decision maker `t.dm:` travel), unless the parent is a remote
/// Datadog context without a sampling priority: then, as in ddtrace, it
/// decides like a root. A local root decides, and
/// writes `dd=s:<priority>;t.dm:-<mechanism>` as its tracestate, which
/// its descendants inherit and [`inject_context`](crate::inject_context)
/// sends on (`x-datadog-sampling-priority`, `_dd.p.dm` in
/// `x-datadog-tags`, `tracestate`, the `traceparent` flag); the default
/// decision (no rule, no Agent rate: keep, priority 1) leaves the
/// tracestate empty instead, so that child spans copy nothing (the
/// sampled flag says priority 1; no `_dd.p.dm=-0` is sent). It also gets
/// the attributes `_dd.rule_psr` or `_dd.agent_psr`, `_dd.limit_psr` and
/// `_dd.p.ksr` when ddtrace sets them. Kept traces are recorded and
/// sampled; rejected ones are recorded but not sampled (not exported over
/// OTLP), or dropped outright by a rule with `discard`.
///
/// ```
/// use opentelemetry::trace::{SpanKind, TraceId};
/// use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
/// use pipeline_telemetry_otel::{AgentRates, DatadogSampler, SamplingConfig};
///
/// let sampler = DatadogSampler::new(
///     &SamplingConfig::new().with_sample_rate(0.0),
///     "etl",
///     Some("prod"),
///     &AgentRates::new(),
/// );
/// let result = sampler.should_sample(None, TraceId::from(7), "pipeline.run", &SpanKind::Internal, &[], &[]);
/// assert_eq!(result.decision, SamplingDecision::RecordOnly);
/// assert_eq!(result.trace_state.get("dd"), Some("s:-1;t.dm:-3"));
/// ```
#[derive(Debug, Clone)]
pub struct DatadogSampler(Arc<Inner>);

impl DatadogSampler {
    /// A sampler of `config` for spans of `service` in `env` (the key of
    /// the Agent's rates), reading `rates` as they are updated.
    pub fn new(
        config: &SamplingConfig,
        service: &str,
        env: Option<&str>,
        rates: &AgentRates,
    ) -> Self {
        let mut attrs = vec![KeyValue::new("service.name", service.to_owned())];
        if let Some(env) = env {
            attrs.push(KeyValue::new("deployment.environment.name", env.to_owned()));
        }
        let resource = Resource::builder_empty().with_attributes(attrs).build();
        Self::with_resource(config, service, env, rates, resource)
    }

    /// [`new`](Self::new) for spans of `resource` (the tracer provider's).
    pub(crate) fn with_resource(
        config: &SamplingConfig,
        service: &str,
        env: Option<&str>,
        rates: &AgentRates,
        resource: Resource,
    ) -> Self {
        let rate_slot = rates.watch(AgentRates::key(service, env));
        DatadogSampler(Arc::new(Inner {
            rate_slot,
            rules: config.all_rules(),
            limiter: RateLimiter::new(config.rate_limit),
            resource,
            env: env.map(str::to_owned),
        }))
    }

    /// `_get_highest_precedence_rule_matching`: the first rule matching the
    /// span's service, operation name and resource as Datadog will name
    /// them ([`RuleView`]), and tags (its attributes at start, and `env`).
    /// Nothing is looked up without rules.
    fn matching_rule(&self, name: &str, kind: &SpanKind, attributes: &[KeyValue]) -> Option<&Rule> {
        let me = &self.0;
        if me.rules.is_empty() {
            return None;
        }
        let view = RuleView::new(name, kind, attributes);
        let (service, operation, resource) = view.names(&me.resource);
        let env = me.env.as_deref();
        me.rules
            .iter()
            .find(|r| r.matches(&service, &operation, &resource, |k| view.tag(k, env)))
    }

    /// `sample_or_discard` for a local root of the trace whose low 64 bits
    /// are `trace_id_low`, named `name` with `attributes`; `now_ns` is the
    /// rate limiter's clock (`None`: the monotonic clock).
    pub(crate) fn decide(
        &self,
        trace_id_low: u64,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        now_ns: Option<i64>,
    ) -> Decision {
        let me = &self.0;
        let rule = self.matching_rule(name, kind, attributes);
        let mut d = Decision {
            sampled: true,
            discard: false,
            priority: AUTO_KEEP,
            mechanism: DEFAULT,
            rule_psr: None,
            agent_psr: None,
            limit_psr: None,
            ksr: None,
        };
        if let Some(rule) = rule {
            // `SamplingRule.sample`: 1 and 0 decide without the hash.
            let rate = rule.sample_rate;
            d.sampled = rate == 1.0 || (rate != 0.0 && knuth_keep(trace_id_low, rate));
            if d.sampled {
                let (allowed, effective) = match now_ns {
                    Some(now) => me.limiter.check_at(now),
                    None => me.limiter.check(),
                };
                d.sampled = allowed;
                d.limit_psr = Some(effective);
            }
            d.mechanism = match rule.provenance {
                Provenance::Customer => REMOTE_USER_TRACE_SAMPLING_RULE,
                Provenance::Dynamic => REMOTE_DYNAMIC_TRACE_SAMPLING_RULE,
                Provenance::Default => LOCAL_USER_TRACE_SAMPLING_RULE,
            };
            d.rule_psr = Some(rule.sample_rate);
            d.ksr = Some(format_rate(rule.sample_rate));
            d.priority = if d.sampled { USER_KEEP } else { USER_REJECT };
            d.discard = rule.discard && !d.sampled;
        } else if let Some(rate) = super::agent_rates::read(&me.rate_slot) {
            d.sampled = knuth_keep(trace_id_low, rate);
            d.mechanism = AGENT_RATE_BY_SERVICE;
            d.agent_psr = Some(rate);
            d.ksr = Some(format_rate(rate));
            d.priority = if d.sampled { AUTO_KEEP } else { AUTO_REJECT };
        }
        d
    }

    /// The rate limit, traces a second.
    pub fn rate_limit(&self) -> i64 {
        self.0.limiter.rate_limit()
    }
}

impl ShouldSample for DatadogSampler {
    fn should_sample(
        &self,
        parent_context: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let mut upstream_state = None;
        if let Some(cx) = parent_context.filter(|cx| cx.has_active_span()) {
            let span = cx.span();
            let parent = span.span_context();
            if parent.is_valid() {
                let undecided = parent.is_remote() && cx.get::<NoUpstreamPriority>().is_some();
                if !undecided {
                    return SamplingResult {
                        decision: if parent.is_sampled() {
                            SamplingDecision::RecordAndSample
                        } else {
                            SamplingDecision::RecordOnly
                        },
                        attributes: Vec::new(),
                        trace_state: parent.trace_state().clone(),
                    };
                }
                upstream_state = Some(parent.trace_state().clone());
            }
        }
        let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
        let d = self.decide(low, name, span_kind, attributes, None);
        // A keep with priority 1 (the default decision, or an Agent rate's
        // keep, which every trace takes once the Agent sends a rate of 1)
        // leaves a local root's tracestate empty: priority 1 is the sampled
        // flag, and each child span would otherwise copy the `dd` member
        // (about 70 ns). The trace intake path writes the decision maker on
        // the root (`-0`, or `-1` where `_dd.agent_psr` is set).
        let trace_state = match upstream_state {
            None if d.priority == AUTO_KEEP
                && (d.mechanism == DEFAULT || d.mechanism == AGENT_RATE_BY_SERVICE) =>
            {
                TraceState::default()
            }
            state => with_decision(state.unwrap_or_default(), &d),
        };
        let mut attributes = Vec::new();
        for (key, value) in [
            (RULE_PSR, d.rule_psr),
            (AGENT_PSR, d.agent_psr),
            (LIMIT_PSR, d.limit_psr),
        ] {
            if let Some(v) = value {
                attributes.push(KeyValue::new(key, v));
            }
        }
        if let Some(ksr) = d.ksr {
            attributes.push(KeyValue::new(KSR, ksr));
        }
        let decision = match (d.sampled, d.discard) {
            (true, _) => SamplingDecision::RecordAndSample,
            (false, false) => SamplingDecision::RecordOnly,
            (false, true) => SamplingDecision::Drop,
        };
        SamplingResult {
            decision,
            attributes,
            trace_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knuth_threshold_is_exact() {
        assert!(knuth_keep(0, 0.0));
        assert!(!knuth_keep(1, 0.0));
        assert!(knuth_keep(u64::MAX, 1.0));
        assert_eq!(format_rate(0.5), "0.5");
        assert_eq!(format_rate(1.0), "1");
        assert_eq!(format_rate(0.0000005), "0.000001");
        assert_eq!(format_rate(0.1234564), "0.123456");
    }
}
