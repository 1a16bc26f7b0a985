//! Errors of `init()`.

use std::fmt;

use pipeline_telemetry_dogstatsd as dogstatsd;

/// Why [`init`](crate::init) failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// A `DD_*` variable (or a setting in code) is invalid.
    Config(dogstatsd::ConfigError),
    /// The DogStatsD exporter could not start.
    Metrics(dogstatsd::InstallError),
    /// Traces and logs could not be set up (for instance a global
    /// `tracing` subscriber is already installed and `try_init` was used).
    #[cfg(feature = "otlp")]
    Tracing(pipeline_telemetry_otel::InstallError),
    /// Telemetry is already initialised in this process.
    AlreadyInitialized,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Config(e) => write!(f, "invalid telemetry configuration: {e}"),
            InitError::Metrics(_) => f.write_str("cannot start the DogStatsD exporter"),
            #[cfg(feature = "otlp")]
            InitError::Tracing(_) => f.write_str("cannot set up traces and logs"),
            InitError::AlreadyInitialized => {
                f.write_str("pipeline-telemetry is already initialised")
            }
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::Config(e) => Some(e),
            InitError::Metrics(e) => Some(e),
            #[cfg(feature = "otlp")]
            InitError::Tracing(e) => Some(e),
            InitError::AlreadyInitialized => None,
        }
    }
}
