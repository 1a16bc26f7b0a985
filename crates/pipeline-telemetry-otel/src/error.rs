//! One error type per operation. Every variant carries what went wrong and,
//! where there is one, the underlying error as its `source()`.

use std::time::Duration;

/// A configuration value (from the environment or from code) that cannot be
/// used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting} {value:?}: {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The environment variable or builder setting, e.g. `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub setting: String,
    /// The rejected value.
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(
        setting: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            setting: setting.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Why [`OtelBuilder::install`](crate::OtelBuilder::install) or
/// [`OtelBuilder::build_layer`](crate::OtelBuilder::build_layer) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// A setting is invalid.
    #[error("invalid telemetry configuration")]
    Config(#[from] ConfigError),
    /// A log or trace filter directive could not be parsed.
    #[error("invalid filter directives for {setting}")]
    Filter {
        /// `RUST_LOG`, `PIPELINE_TELEMETRY_TRACE_FILTER` or the builder method.
        setting: &'static str,
        /// The parser's error.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// The OTLP exporter could not be built (builds with an OTLP transport
    /// only: feature `otlp-grpc` or `otlp-http`).
    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
    #[error("could not build the OTLP {signal} exporter")]
    Exporter {
        /// `traces` or `logs`.
        signal: &'static str,
        /// The exporter's error.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The background export thread or its runtime could not be started.
    #[error("could not start the {signal} export thread")]
    Worker {
        /// `traces` or `logs`.
        signal: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A global `tracing` subscriber is already installed (by this crate or by
    /// someone else). Nothing was installed; export threads were stopped.
    #[error("a global tracing subscriber is already set")]
    GlobalSubscriberAlreadySet(#[source] tracing::subscriber::SetGlobalDefaultError),
}

/// Why [`OtelGuard::shutdown`](crate::OtelGuard::shutdown) or
/// [`OtelGuard::flush`](crate::OtelGuard::flush) did not finish cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The export threads did not finish within the allowed time; whatever
    /// was still queued may be lost.
    #[error("telemetry export did not finish within {0:?}")]
    Timeout(Duration),
    /// The last export before shutdown failed (e.g. the Agent is down).
    #[error("the final {signal} export failed: {message}")]
    Export {
        /// `traces` or `logs`.
        signal: &'static str,
        /// The exporter's error message.
        message: String,
    },
    /// The export thread is gone (it was already shut down or it panicked).
    #[error("the {0} export thread has already stopped")]
    AlreadyShutDown(&'static str),
}

/// Why [`ExtractedContext::set_parent`](crate::ExtractedContext::set_parent)
/// could not make the extracted context the parent of a span.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PropagationError {
    /// The carrier held no valid trace context, so there is no parent.
    #[error("the carrier held no valid trace context")]
    NoRemoteContext,
    /// The span could not take the parent (already entered, disabled, or no
    /// OpenTelemetry layer in the subscriber).
    #[error("cannot set the parent of this span")]
    SetParent(#[source] tracing_opentelemetry::SetParentError),
}
