//! OTLP sinks for the export threads: spans and log records over gRPC or
//! HTTP/protobuf, each driven on its export thread.
//!
//! gRPC (tonic) needs a Tokio runtime: each gRPC sink owns a current-thread
//! runtime on its export thread, so the application needs none. HTTP (feature
//! `otlp-http`) uses a blocking client and needs no runtime at all.

#[cfg(feature = "otlp-http")]
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
#[cfg(feature = "otlp-http")]
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_otlp::{LogExporter, SpanExporter, WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord};
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;

use crate::batch::ExportSink;
use crate::config::Protocol;
use crate::error::{ConfigError, InstallError};
use crate::resolve::Target;

/// How an export future is driven on the export thread.
enum Runner {
    #[cfg(feature = "otlp-http")]
    Plain,
    Tokio(tokio::runtime::Runtime),
}

impl Runner {
    fn for_protocol(protocol: Protocol, signal: &'static str) -> Result<Self, InstallError> {
        match protocol {
            #[cfg(feature = "otlp-http")]
            Protocol::HttpProtobuf => Ok(Self::Plain),
            // Rejected by `resolve` already; never a silent fall back to gRPC.
            #[cfg(not(feature = "otlp-http"))]
            Protocol::HttpProtobuf => Err(InstallError::Config(http_not_built())),
            Protocol::Grpc => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(Self::Tokio)
                .map_err(|source| InstallError::Worker { signal, source }),
        }
    }

    fn block_on<F: Future>(&self, future: F, limit: Duration) -> Result<F::Output, String> {
        match self {
            #[cfg(feature = "otlp-http")]
            Self::Plain => Ok(futures_executor::block_on(future)),
            // The timer is created inside the runtime.
            Self::Tokio(rt) => rt
                .block_on(async { tokio::time::timeout(limit, future).await })
                .map_err(|_| format!("no answer within {limit:?}")),
        }
    }

    /// Runs `build` where the exporter can find the runtime it needs.
    fn build<T>(&self, build: impl FnOnce() -> T) -> T {
        match self {
            #[cfg(feature = "otlp-http")]
            Self::Plain => build(),
            Self::Tokio(rt) => {
                let _entered = rt.enter();
                build()
            }
        }
    }
}

/// The settings both sinks are built from.
#[derive(Debug, Clone)]
pub(crate) struct SinkConfig {
    pub(crate) target: Target,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) resource: Resource,
}

impl SinkConfig {
    fn header_map(&self) -> Result<http::HeaderMap, ConfigError> {
        header_map(&self.headers)
    }

    fn describe(&self, signal: &str) -> String {
        format!(
            "{} ({})",
            self.target.signal_url(signal),
            self.target.protocol.as_str()
        )
    }
}

fn exporter_error(
    signal: &'static str,
) -> impl Fn(opentelemetry_otlp::ExporterBuildError) -> InstallError {
    move |source| InstallError::Exporter { signal, source }
}

/// The OTLP exporter of one signal (`SpanExporter` or `LogExporter`) over
/// the configured protocol. The two exporters' builders share no trait for
/// their protocol steps, so one macro builds both.
macro_rules! otlp_exporter {
    ($exporter:ident, $signal:literal, $config:expr, $url:expr, $headers:expr) => {
        match $config.target.protocol {
            Protocol::Grpc => $exporter::builder()
                .with_tonic()
                .with_endpoint($url)
                .with_timeout($config.timeout)
                .with_metadata(
                    opentelemetry_otlp::tonic_types::metadata::MetadataMap::from_headers($headers),
                )
                .build()
                .map_err(exporter_error($signal)),
            #[cfg(feature = "otlp-http")]
            Protocol::HttpProtobuf => $exporter::builder()
                .with_http()
                .with_endpoint($url)
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_timeout($config.timeout)
                .with_headers(to_string_map(&$headers))
                .build()
                .map_err(exporter_error($signal)),
            #[cfg(not(feature = "otlp-http"))]
            Protocol::HttpProtobuf => Err(InstallError::Config(http_not_built())),
        }
    };
}

/// Finished spans to an OTLP receiver.
pub(crate) struct OtlpSpanSink {
    // Declared before `runner`: the exporter is dropped inside the runtime's
    // lifetime.
    exporter: SpanExporter,
    runner: Runner,
    timeout: Duration,
    describe: String,
}

impl OtlpSpanSink {
    /// Builds the exporter; runs on the export thread.
    pub(crate) fn build(config: &SinkConfig) -> Result<Self, InstallError> {
        let runner = Runner::for_protocol(config.target.protocol, "traces")?;
        let url = config.target.signal_url("traces");
        let headers = config.header_map()?;
        let mut exporter =
            runner.build(|| otlp_exporter!(SpanExporter, "traces", config, url, headers))?;
        exporter.set_resource(&config.resource);
        Ok(Self {
            exporter,
            runner,
            timeout: config.timeout.saturating_add(Duration::from_secs(1)),
            describe: config.describe("traces"),
        })
    }
}

impl ExportSink for OtlpSpanSink {
    type Item = SpanData;

    fn export(&mut self, mut batch: Vec<SpanData>) -> Result<(), String> {
        batch.iter_mut().for_each(crate::datadog_fields::derive);
        self.runner
            .block_on(self.exporter.export(batch), self.timeout)?
            .map_err(|e| format!("to {}: {e}", self.describe))
    }

    fn shutdown(&mut self) {
        let _ = self.exporter.shutdown_with_timeout(self.timeout);
    }
}

/// Log records to an OTLP receiver.
pub(crate) struct OtlpLogSink {
    exporter: LogExporter,
    runner: Runner,
    timeout: Duration,
    describe: String,
}

impl OtlpLogSink {
    /// Builds the exporter; runs on the export thread.
    pub(crate) fn build(config: &SinkConfig) -> Result<Self, InstallError> {
        let runner = Runner::for_protocol(config.target.protocol, "logs")?;
        let url = config.target.signal_url("logs");
        let headers = config.header_map()?;
        let mut exporter =
            runner.build(|| otlp_exporter!(LogExporter, "logs", config, url, headers))?;
        exporter.set_resource(&config.resource);
        Ok(Self {
            exporter,
            runner,
            timeout: config.timeout.saturating_add(Duration::from_secs(1)),
            describe: config.describe("logs"),
        })
    }
}

impl ExportSink for OtlpLogSink {
    type Item = (SdkLogRecord, InstrumentationScope);

    fn export(&mut self, batch: Vec<Self::Item>) -> Result<(), String> {
        let refs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
            batch.iter().map(|(r, s)| (r, s)).collect();
        self.runner
            .block_on(self.exporter.export(LogBatch::new(&refs)), self.timeout)?
            .map_err(|e| format!("to {}: {e}", self.describe))
    }

    fn shutdown(&mut self) {
        let _ = self.exporter.shutdown_with_timeout(self.timeout);
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

/// The error for HTTP/protobuf in a build without the `otlp-http` feature.
#[cfg(not(feature = "otlp-http"))]
fn http_not_built() -> ConfigError {
    ConfigError::new(
        "protocol",
        Protocol::HttpProtobuf.as_str(),
        crate::config::HTTP_NOT_BUILT,
    )
}

#[cfg(feature = "otlp-http")]
fn to_string_map(headers: &http::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}
