//! The trace sampling settings of [`OtelBuilder`].

use std::sync::Arc;

use opentelemetry_sdk::Resource;

use crate::builder::OtelBuilder;
use crate::native::AnswerHook;
use crate::resolve::Identity;
use crate::sampling::{AgentRates, DatadogSampler, SamplingConfig};

impl OtelBuilder {
    /// How traces are sampled (see [`DatadogSampler`]). Default:
    /// [`SamplingConfig::new`], every trace kept unless the Agent's rates
    /// say otherwise. Environment:
    /// [`DD_TRACE_SAMPLING_RULES`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLING_RULES),
    /// [`DD_TRACE_SAMPLE_RATE`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLE_RATE),
    /// [`DD_TRACE_RATE_LIMIT`](pipeline_telemetry_catalogue::env::DD_TRACE_RATE_LIMIT).
    pub fn with_sampling(mut self, config: SamplingConfig) -> Self {
        self.sampling = config;
        self
    }

    /// The Agent's sample rates the sampler reads (a new, empty set by
    /// default): an exporter that talks to the Agent's trace intake updates
    /// them with [`AgentRates::update_from_json`]. No environment variable.
    pub fn with_agent_rates(mut self, rates: AgentRates) -> Self {
        self.agent_rates = rates;
        self
    }

    /// A handle on the Agent's sample rates the sampler will read.
    pub fn agent_rates(&self) -> AgentRates {
        self.agent_rates.clone()
    }

    /// The trace intake's answer hook: each answer's `rate_by_service`
    /// replaces the Agent's rates (an answer that has none, or is not JSON,
    /// changes nothing).
    pub(crate) fn agent_rates_hook(&self) -> AnswerHook {
        let rates = self.agent_rates.clone();
        Arc::new(move |body: &[u8]| {
            let _ = rates.update_from_json(body);
        })
    }

    /// The sampler installed on the tracer provider.
    pub(crate) fn sampler(&self, identity: &Identity, resource: &Resource) -> DatadogSampler {
        DatadogSampler::with_resource(
            &self.sampling,
            &identity.service,
            identity.env.as_deref(),
            &self.agent_rates,
            resource.clone(),
        )
    }
}
