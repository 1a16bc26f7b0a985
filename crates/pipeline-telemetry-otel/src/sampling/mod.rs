//! Trace sampling as ddtrace-py 4.16 does it: a port of its
//! `DatadogSampler` (`ddtrace/_trace/sampler.py`), sampling rules
//! (`ddtrace/_trace/sampling_rule.py`), rate limiter
//! (`ddtrace/internal/rate_limiter.py`) and sampling tags
//! (`ddtrace/internal/sampling.py`), as an OpenTelemetry sampler.
//!
//! The local root span of a trace decides, in this order: the first
//! matching sampling rule (`DD_TRACE_SAMPLING_RULES`, then
//! `DD_TRACE_SAMPLE_RATE` as a rule matching every span), limited to
//! `DD_TRACE_RATE_LIMIT` kept traces a second; else the Agent's rate for
//! this service and env ([`AgentRates`]); else keep. A span with a parent
//! (local or remote) follows the parent's decision.

mod agent_rates;
mod limiter;
mod rules;
mod sampler;
mod span_view;

pub use agent_rates::{AgentRates, AgentRatesError};
pub use sampler::DatadogSampler;

use pipeline_telemetry_catalogue::env::{
    DD_TRACE_RATE_LIMIT, DD_TRACE_SAMPLE_RATE, DD_TRACE_SAMPLING_RULES,
};

use crate::error::ConfigError;
use limiter::DEFAULT_RATE_LIMIT;
use rules::{parse_rules, Rule};

/// The sampling settings: rules, a catch-all sample rate and the rate
/// limit of rule decisions.
///
/// ```
/// use pipeline_telemetry_otel::SamplingConfig;
///
/// let config = SamplingConfig::new()
///     .with_rules_json(r#"[{"sample_rate": 0.1, "name": "pipeline.*", "resource": "nightly"}]"#)?
///     .with_sample_rate(0.5)
///     .with_rate_limit(50);
/// # drop(config);
/// # Ok::<(), pipeline_telemetry_otel::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    pub(crate) rules: Vec<Rule>,
    pub(crate) sample_rate: Option<f64>,
    pub(crate) rate_limit: i64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig::new()
    }
}

impl SamplingConfig {
    /// No rules, no sample rate, ddtrace's rate limit of 100 a second:
    /// every trace is kept (`AUTO_KEEP`) unless the Agent sends rates.
    pub fn new() -> Self {
        SamplingConfig {
            rules: Vec::new(),
            sample_rate: None,
            rate_limit: DEFAULT_RATE_LIMIT,
        }
    }

    /// The sample rate (clamped to `0..=1`) of a rule that matches every
    /// span, tried after the other rules. Environment:
    /// [`DD_TRACE_SAMPLE_RATE`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLE_RATE).
    pub fn with_sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = Some(rules::clamp_rate(rate));
        self
    }

    /// The sampling rules, in ddtrace's `DD_TRACE_SAMPLING_RULES` JSON
    /// form: a list of objects with `sample_rate` and optionally `service`,
    /// `name`, `resource` (glob patterns: `*`, `?`, case-insensitive),
    /// `tags` (an object of glob patterns), `provenance` (`customer`,
    /// `dynamic`, `default`) and `discard`. A rule without `sample_rate` is
    /// skipped. Environment: [`DD_TRACE_SAMPLING_RULES`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLING_RULES).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the JSON or a rule is invalid (ddtrace keeps
    /// the rules before the invalid one; the environment reading does too).
    pub fn with_rules_json(mut self, json: &str) -> Result<Self, ConfigError> {
        let (rules, error) = parse_rules(json);
        if let Some(reason) = error {
            return Err(ConfigError::new("with_rules_json", json, reason));
        }
        self.rules = rules;
        Ok(self)
    }

    /// The most traces a second that a rule (or the sample rate) keeps;
    /// those over it are rejected (`USER_REJECT`). 0 keeps none, a negative
    /// limit has none. Environment: [`DD_TRACE_RATE_LIMIT`](pipeline_telemetry_catalogue::env::DD_TRACE_RATE_LIMIT).
    pub fn with_rate_limit(mut self, per_second: i64) -> Self {
        self.rate_limit = per_second;
        self
    }

    /// Reads [`DD_TRACE_SAMPLING_RULES`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLING_RULES), [`DD_TRACE_SAMPLE_RATE`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLE_RATE) and
    /// [`DD_TRACE_RATE_LIMIT`](pipeline_telemetry_catalogue::env::DD_TRACE_RATE_LIMIT) through `get`; each value that cannot be used
    /// is returned with what is done instead.
    pub(crate) fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
    ) -> (Self, Vec<(ConfigError, String)>) {
        let mut c = SamplingConfig::new();
        let mut notes = Vec::new();
        if let Some(json) = get(DD_TRACE_SAMPLING_RULES) {
            let (rules, error) = parse_rules(&json);
            if let Some(reason) = error {
                let instead = format!("using the {} rules before it", rules.len());
                notes.push((
                    ConfigError::new(DD_TRACE_SAMPLING_RULES, json, reason),
                    instead,
                ));
            }
            c.rules = rules;
        }
        if let Some(raw) = get(DD_TRACE_SAMPLE_RATE) {
            match raw.trim().parse::<f64>() {
                Ok(rate) => c = c.with_sample_rate(rate),
                Err(_) => notes.push((
                    ConfigError::new(DD_TRACE_SAMPLE_RATE, raw, "expected a number from 0 to 1"),
                    "no sample rate".to_owned(),
                )),
            }
        }
        if let Some(raw) = get(DD_TRACE_RATE_LIMIT) {
            match crate::datadog_tags::py_int(&raw).and_then(|n| i64::try_from(n).ok()) {
                Some(n) => c.rate_limit = n,
                None => notes.push((
                    ConfigError::new(DD_TRACE_RATE_LIMIT, raw, "expected a whole number"),
                    format!("using the default {DEFAULT_RATE_LIMIT}"),
                )),
            }
        }
        (c, notes)
    }

    /// The rules tried in order: the configured ones, then the sample
    /// rate's.
    pub(crate) fn all_rules(&self) -> Vec<Rule> {
        let mut all = self.rules.clone();
        all.extend(self.sample_rate.map(Rule::catch_all));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_is_read_leniently() {
        let vars: HashMap<&str, &str> = [
            (
                DD_TRACE_SAMPLING_RULES,
                r#"[{"sample_rate":0.2},{"sample_rate":[]}]"#,
            ),
            (DD_TRACE_SAMPLE_RATE, "half"),
            (DD_TRACE_RATE_LIMIT, "7"),
        ]
        .into_iter()
        .collect();
        let (c, notes) = SamplingConfig::from_lookup(&|k| vars.get(k).map(|v| (*v).to_owned()));
        assert_eq!(c.rules.len(), 1);
        assert_eq!(c.sample_rate, None);
        assert_eq!(c.rate_limit, 7);
        let settings: Vec<_> = notes.iter().map(|(e, _)| e.setting.as_str()).collect();
        assert_eq!(settings, [DD_TRACE_SAMPLING_RULES, DD_TRACE_SAMPLE_RATE]);
        assert_eq!(c.with_sample_rate(3.0).all_rules().len(), 2);
    }
}
