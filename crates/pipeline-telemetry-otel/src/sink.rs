//! Where the export threads send OTLP data: the settings of the OTLP
//! sinks, and the sinks themselves in builds with an OTLP transport
//! (features `otlp-grpc`, `otlp-http`). A default build has neither: its
//! spans go to the Agent's trace intake (`crate::native`).

use std::time::Duration;

use crate::stage_spans::FinishedSpan;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::SdkLogRecord;
use opentelemetry_sdk::Resource;

use crate::batch::{BatchConfig, Batcher};
use crate::error::{ConfigError, InstallError};
use crate::resolve::Target;

#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
mod otlp;
#[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
pub(crate) use otlp::{OtlpLogSink, OtlpSpanSink};

/// The settings both sinks are built from.
// Read by the sinks only, which a build without a transport lacks.
#[cfg_attr(
    not(any(feature = "otlp-grpc", feature = "otlp-http")),
    allow(dead_code)
)]
#[derive(Debug, Clone)]
pub(crate) struct SinkConfig {
    pub(crate) target: Target,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) resource: Resource,
}

impl SinkConfig {
    /// The error for a build without the target's transport.
    #[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
    fn not_built(&self) -> InstallError {
        let p = self.target.protocol;
        InstallError::Config(ConfigError::new("protocol", p.as_str(), p.not_built()))
    }

    #[cfg_attr(
        not(any(feature = "otlp-grpc", feature = "otlp-http")),
        allow(dead_code)
    )]
    pub(super) fn header_map(&self) -> Result<http::HeaderMap, ConfigError> {
        header_map(&self.headers)
    }

    #[cfg_attr(
        not(any(feature = "otlp-grpc", feature = "otlp-http")),
        allow(dead_code)
    )]
    pub(super) fn describe(&self, signal: &str) -> String {
        format!(
            "{} ({})",
            self.target.signal_url(signal),
            self.target.protocol.as_str()
        )
    }
}

/// The headers of [`with_header`](crate::OtelBuilder::with_header) as a map.
///
/// # Errors
/// [`ConfigError`] for a name or value that cannot go on a request.
pub(crate) fn header_map(headers: &[(String, String)]) -> Result<http::HeaderMap, ConfigError> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes())
            .map_err(|e| ConfigError::new("with_header (name)", k.clone(), e.to_string()))?;
        let value = http::HeaderValue::from_str(v.trim())
            .map_err(|e| ConfigError::new("with_header (value)", k.clone(), e.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

/// Starts the export thread of spans to an OTLP receiver.
///
/// # Errors
/// The exporter's or the thread's error; in a build without the target's
/// transport (which `resolve` refuses before this), a [`ConfigError`].
pub(crate) fn spawn_spans(
    batch: BatchConfig,
    config: SinkConfig,
) -> Result<Batcher<FinishedSpan>, InstallError> {
    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
    return Batcher::spawn("traces", batch, move || OtlpSpanSink::build(&config));
    #[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
    {
        let _ = batch;
        Err(config.not_built())
    }
}

/// Starts the export thread of log records to an OTLP receiver.
///
/// # Errors
/// As [`spawn_spans`].
pub(crate) fn spawn_logs(
    batch: BatchConfig,
    config: SinkConfig,
) -> Result<Batcher<(SdkLogRecord, InstrumentationScope)>, InstallError> {
    #[cfg(any(feature = "otlp-grpc", feature = "otlp-http"))]
    return Batcher::spawn("logs", batch, move || OtlpLogSink::build(&config));
    #[cfg(not(any(feature = "otlp-grpc", feature = "otlp-http")))]
    {
        let _ = batch;
        Err(config.not_built())
    }
}
