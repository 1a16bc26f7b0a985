//! [`DogStatsDBuilder::from_env`] and [`DogStatsDBuilder::with_env_tags`]:
//! Datadog's environment variables, read once.

use pipeline_telemetry_catalogue::env::{
    DATADOG_CARDINALITY, DD_CARDINALITY, DD_ENTITY_ID, DD_ENV, DD_EXTERNAL_ENV,
    DD_ORIGIN_DETECTION_ENABLED, DD_SERVICE, DD_TAGS, DD_VERSION,
};

use super::DogStatsDBuilder;
use crate::error::ConfigError;
use crate::target::Target;

impl DogStatsDBuilder {
    /// Configuration from Datadog's environment variables: the target from
    /// [`DD_DOGSTATSD_URL`](pipeline_telemetry_catalogue::env::DD_DOGSTATSD_URL)
    /// / [`DD_AGENT_HOST`](pipeline_telemetry_catalogue::env::DD_AGENT_HOST) +
    /// [`DD_DOGSTATSD_PORT`](pipeline_telemetry_catalogue::env::DD_DOGSTATSD_PORT)
    /// (when neither is set, the Agent's default socket
    /// [`DEFAULT_SOCKET`](crate::DEFAULT_SOCKET) if it exists, else
    /// `udp://127.0.0.1:8125`: [`Target::default_agent`]), then everything
    /// [`with_env_tags`](Self::with_env_tags) reads.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the target variables are invalid (see
    /// [`Target::from_lookup`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        let target = Target::from_env()?.unwrap_or_else(Target::default_agent);
        Ok(Self::new(target).with_env_tags())
    }

    /// Adds from the environment the unified service tags ([`DD_SERVICE`],
    /// [`DD_ENV`], [`DD_VERSION`]), the tags of [`DD_TAGS`],
    /// [`DD_ENTITY_ID`] and the origin-detection settings
    /// ([`DD_EXTERNAL_ENV`], [`DD_CARDINALITY`] or [`DATADOG_CARDINALITY`],
    /// [`DD_ORIGIN_DETECTION_ENABLED`]). Unset or empty variables change
    /// nothing.
    pub fn with_env_tags(self) -> Self {
        self.with_env_tags_from(|k| std::env::var(k).ok())
    }

    /// [`with_env_tags`](Self::with_env_tags) with a custom lookup.
    pub fn with_env_tags_from(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        for (key, name) in [
            ("service", DD_SERVICE),
            ("env", DD_ENV),
            ("version", DD_VERSION),
        ] {
            if let Some(v) = var(name).filter(|v| !v.trim().is_empty()) {
                self = self.with_tag(key, v.trim());
            }
        }
        if let Some(tags) = var(DD_TAGS) {
            self = self.with_tags_str(&tags);
        }
        let set = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(id) = set(DD_ENTITY_ID) {
            self = self.with_tag("dd.internal.entity_id", id);
        }
        if let Some(e) = set(DD_EXTERNAL_ENV) {
            self.external_env = Some(e);
        }
        if let Some(c) = set(DD_CARDINALITY).or_else(|| set(DATADOG_CARDINALITY)) {
            self.cardinality = Some(c.to_ascii_lowercase());
        }
        if let Some(v) = set(DD_ORIGIN_DETECTION_ENABLED) {
            self.origin_detection =
                !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no");
        }
        self
    }
}
