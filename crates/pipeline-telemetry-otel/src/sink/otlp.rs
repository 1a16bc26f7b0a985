//! The OTLP exporters of the sinks (built with feature `otlp-grpc` or
//! `otlp-http`).
//!
//! gRPC (tonic, feature `otlp-grpc`) needs a Tokio runtime: each gRPC sink
//! owns a current-thread runtime on its export thread, so the application
//! needs none. HTTP (feature `otlp-http`) uses a blocking client and needs
//! no runtime at all.

#[cfg(feature = "otlp-http")]
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
#[cfg(feature = "otlp-http")]
use opentelemetry_otlp::WithHttpConfig;
#[cfg(feature = "otlp-grpc")]
use opentelemetry_otlp::WithTonicConfig;
use opentelemetry_otlp::{LogExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::logs::{LogBatch, LogExporter as _, SdkLogRecord};
use opentelemetry_sdk::trace::SpanExporter as _;

use super::SinkConfig;
use crate::batch::ExportSink;
use crate::config::Protocol;
use crate::error::{ConfigError, InstallError};
use crate::stage_spans::FinishedSpan;

/// How an export future is driven on the export thread.
enum Runner {
    #[cfg(feature = "otlp-http")]
    Plain,
    #[cfg(feature = "otlp-grpc")]
    Tokio(tokio::runtime::Runtime),
}

impl Runner {
    #[cfg_attr(not(feature = "otlp-grpc"), allow(unused_variables))]
    fn for_protocol(protocol: Protocol, signal: &'static str) -> Result<Self, InstallError> {
        match protocol {
            #[cfg(feature = "otlp-http")]
            Protocol::HttpProtobuf => Ok(Self::Plain),
            #[cfg(feature = "otlp-grpc")]
            Protocol::Grpc => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(Self::Tokio)
                .map_err(|source| InstallError::Worker { signal, source }),
            // Rejected by `resolve` already; never a silent fall back to the
            // other transport.
            #[allow(unreachable_patterns)]
            p => Err(InstallError::Config(not_built(p))),
        }
    }

    #[cfg_attr(not(feature = "otlp-grpc"), allow(unused_variables))]
    fn block_on<F: Future>(&self, future: F, limit: Duration) -> Result<F::Output, String> {
        match self {
            #[cfg(feature = "otlp-http")]
            Self::Plain => Ok(futures_executor::block_on(future)),
            // The timer is created inside the runtime.
            #[cfg(feature = "otlp-grpc")]
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
            #[cfg(feature = "otlp-grpc")]
            Self::Tokio(rt) => {
                let _entered = rt.enter();
                build()
            }
        }
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
            #[cfg(feature = "otlp-grpc")]
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
            #[allow(unreachable_patterns)]
            p => Err(InstallError::Config(not_built(p))),
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
    type Item = FinishedSpan;

    fn export(&mut self, batch: Vec<FinishedSpan>) -> Result<(), String> {
        let batch = crate::datadog_fields::export_batch(batch);
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

/// The error for a transport this build lacks (refused by `resolve`
/// before any sink is built).
fn not_built(protocol: Protocol) -> ConfigError {
    ConfigError::new("protocol", protocol.as_str(), protocol.not_built())
}

#[cfg(feature = "otlp-http")]
fn to_string_map(headers: &http::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}
