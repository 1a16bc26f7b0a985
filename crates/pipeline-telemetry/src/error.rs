//! Errors of `init()` and of the guard's shutdown.
//!
//! Each message says what went wrong at its own level; an underlying error is
//! returned from `source()`, never repeated in the message.

use pipeline_telemetry_dogstatsd as dogstatsd;

/// Why [`init`](crate::init) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// A `DD_*` variable (or a setting in code) is invalid.
    #[error("invalid telemetry configuration")]
    Config(#[source] dogstatsd::ConfigError),
    /// The DogStatsD exporter could not start.
    #[error("cannot start the DogStatsD exporter")]
    Metrics(#[source] dogstatsd::InstallError),
    /// Traces and logs could not be set up (for instance a global
    /// `tracing` subscriber is already installed and `try_init` was used).
    #[cfg(feature = "traces")]
    #[error("cannot set up traces and logs")]
    Tracing(#[source] pipeline_telemetry_otel::InstallError),
    /// Telemetry is already initialised in this process.
    #[error("pipeline-telemetry is already initialised")]
    AlreadyInitialized,
}

/// Why [`TelemetryGuard::shutdown`](crate::TelemetryGuard::shutdown) did not
/// finish cleanly: which exporter failed (both are always shut down).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The DogStatsD exporter did not flush in time.
    #[error("the DogStatsD exporter did not shut down cleanly")]
    Metrics(#[source] dogstatsd::ShutdownError),
    /// The OTLP traces/logs exporter did not finish cleanly.
    #[cfg(feature = "traces")]
    #[error("the OTLP exporter did not shut down cleanly")]
    Otlp(#[source] pipeline_telemetry_otel::ShutdownError),
    /// Neither exporter finished cleanly. Both causes are named here, so
    /// this variant has no `source()`.
    #[cfg(feature = "traces")]
    #[error("neither exporter shut down cleanly: DogStatsD: {metrics}; OTLP: {otlp}")]
    Both {
        /// The DogStatsD exporter's error.
        metrics: dogstatsd::ShutdownError,
        /// The OTLP exporter's error.
        otlp: pipeline_telemetry_otel::ShutdownError,
    },
}

/// `error` and its sources, as one line (`a: b: c`).
#[cfg(feature = "traces")]
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}
