//! [`AgentRates`]: the Agent's sample rates by service and env
//! (`rate_by_service` of the trace intake's response), as ddtrace-py 4.16's
//! `DatadogSampler.update_rate_by_service_sample_rates` keeps them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// No rate for this process's key (an impossible rate's bit pattern).
const NONE: u64 = u64::MAX;

#[derive(Debug, Default)]
struct Table {
    rates: BTreeMap<String, f64>,
    /// Each sampler's key and the slot it reads: the rate of that key as
    /// `f64` bits, or [`NONE`] (one atomic load, no lock). Several samplers
    /// (services) can share one `AgentRates`.
    watchers: Vec<(String, Arc<AtomicU64>)>,
}

#[derive(Debug)]
struct Inner {
    table: Mutex<Table>,
}

/// The Agent's sample rates by service and env, shared between the native
/// exporter, which [updates](Self::update_from_json) them from each trace
/// intake response, and the sampler, which reads this process's rate with
/// one atomic load.
///
/// ```
/// use pipeline_telemetry_otel::AgentRates;
///
/// let rates = AgentRates::new();
/// rates.update_from_json(br#"{"rate_by_service":{"service:etl,env:prod":0.5,"service:,env:":1}}"#)?;
/// assert_eq!(rates.get("service:etl,env:prod"), Some(0.5));
/// # Ok::<(), pipeline_telemetry_otel::AgentRatesError>(())
/// ```
#[derive(Debug, Clone)]
pub struct AgentRates(Arc<Inner>);

impl Default for AgentRates {
    fn default() -> Self {
        AgentRates::new()
    }
}

/// Why a trace intake response's rates were not taken (the rates before it
/// stay).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentRatesError {
    /// The body is not JSON.
    #[error("the Agent's response is not JSON: {0}")]
    NotJson(String),
    /// `rate_by_service` is not an object of numbers.
    #[error("the Agent's `rate_by_service` is not an object of numbers")]
    BadRates,
}

impl AgentRates {
    /// No rates yet (every trace is kept with `AUTO_KEEP` until some come).
    pub fn new() -> Self {
        AgentRates(Arc::new(Inner {
            table: Mutex::new(Table::default()),
        }))
    }

    /// ddtrace's `DatadogSampler._key`: `service:<service>,env:<env>`,
    /// each empty when unset, the format of the Agent's `rate_by_service`
    /// keys.
    ///
    /// ```
    /// use pipeline_telemetry_otel::AgentRates;
    /// assert_eq!(AgentRates::key("etl", None), "service:etl,env:");
    /// ```
    pub fn key(service: &str, env: Option<&str>) -> String {
        format!("service:{service},env:{}", env.unwrap_or(""))
    }

    /// Takes the rates of a trace intake response body (`{"rate_by_service":
    /// {"service:svc,env:prod": 0.5, ...}}`), replacing all earlier ones, as
    /// ddtrace does. A body without `rate_by_service` changes nothing.
    /// Rates are clamped to `0..=1`.
    ///
    /// # Errors
    ///
    /// [`AgentRatesError`] when the body is not JSON or its
    /// `rate_by_service` is not an object of numbers; nothing changes then.
    pub fn update_from_json(&self, body: &[u8]) -> Result<(), AgentRatesError> {
        let json = std::str::from_utf8(body)
            .map_err(|e| e.to_string())
            .and_then(crate::json_parse::parse)
            .map_err(AgentRatesError::NotJson)?;
        let Some(by_service) = json.get("rate_by_service") else {
            return Ok(());
        };
        let obj = by_service.as_object().ok_or(AgentRatesError::BadRates)?;
        let mut rates = BTreeMap::new();
        for (key, rate) in obj {
            let rate = rate.as_f64().ok_or(AgentRatesError::BadRates)?;
            rates.insert(key.clone(), super::rules::clamp_rate(rate));
        }
        self.set(rates);
        Ok(())
    }

    /// Replaces the rates.
    pub fn set(&self, rates: BTreeMap<String, f64>) {
        let mut t = self.0.table.lock().unwrap_or_else(PoisonError::into_inner);
        t.rates = rates
            .into_iter()
            .map(|(k, r)| (k, super::rules::clamp_rate(r)))
            .collect();
        self.publish(&t);
    }

    /// The rate of `key` (`service:<service>,env:<env>`), if the Agent
    /// gave one.
    pub fn get(&self, key: &str) -> Option<f64> {
        let t = self.0.table.lock().unwrap_or_else(PoisonError::into_inner);
        t.rates.get(key).copied()
    }

    /// A slot that follows the rate of `key` (a sampler's service and
    /// env), read with [`read`].
    pub(crate) fn watch(&self, key: String) -> Arc<AtomicU64> {
        let mut t = self.0.table.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = Arc::new(AtomicU64::new(NONE));
        t.watchers.push((key, Arc::clone(&slot)));
        // Samplers dropped since: their slots are no longer read.
        t.watchers.retain(|(_, s)| Arc::strong_count(s) > 1);
        self.publish(&t);
        slot
    }

    fn publish(&self, t: &Table) {
        for (key, slot) in &t.watchers {
            let bits = t.rates.get(key).map_or(NONE, |r| r.to_bits());
            slot.store(bits, Ordering::Release);
        }
    }
}

/// The rate a [`watch`](AgentRates::watch) slot holds: one atomic load.
pub(crate) fn read(slot: &AtomicU64) -> Option<f64> {
    let bits = slot.load(Ordering::Acquire);
    (bits != NONE).then(|| f64::from_bits(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_rate_follows_updates() {
        let rates = AgentRates::new();
        let ours = rates.watch(AgentRates::key("etl", Some("prod")));
        // A second service sharing the rates has its own slot.
        let other = rates.watch(AgentRates::key("api", Some("prod")));
        assert_eq!(read(&ours), None);
        let body =
            br#"{"rate_by_service":{"service:etl,env:prod":0.25,"service:api,env:prod":0.5}}"#;
        rates.update_from_json(body).expect("valid");
        assert_eq!((read(&ours), read(&other)), (Some(0.25), Some(0.5)));
        // Only the exact key counts, as in ddtrace 4.16 (no fallback to
        // `service:,env:`).
        rates
            .update_from_json(br#"{"rate_by_service":{"service:,env:":0.1}}"#)
            .expect("valid");
        assert_eq!(read(&ours), None);
        assert_eq!(rates.update_from_json(b"{}"), Ok(()));
        assert!(rates.update_from_json(b"nope").is_err());
        assert_eq!(
            rates.update_from_json(br#"{"rate_by_service":{"a":"x"}}"#),
            Err(AgentRatesError::BadRates)
        );
        assert_eq!(rates.get("service:,env:"), Some(0.1));
    }
}
