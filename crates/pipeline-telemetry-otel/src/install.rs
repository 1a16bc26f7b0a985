//! Builds the layers and export threads from an [`OtelBuilder`], and
//! installs them as the global subscriber.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Registry;

use crate::batch::{BatchConfig, Batcher};
use crate::builder::OtelBuilder;
use crate::config::{LogFormat, TracesExport};
use crate::console::ConsoleSpanSink;
use crate::datadog_fields::SCOPE;
use crate::directives::Directives;
use crate::error::{ConfigError, InstallError};
use crate::exception::ExceptionLayer;
use crate::fields::FieldsLayer;
use crate::guard::OtelGuard;
use crate::json_log::JsonLogLayer;
use crate::log_filter::EventsOnly;
use crate::processor::{QueueLogProcessor, QueueSpanProcessor};
use crate::propagation::propagator;
use crate::resolve::resolve;
use crate::sink::{OtlpLogSink, OtlpSpanSink, SinkConfig};

/// The combined layer handed out by [`OtelBuilder::build_layer`].
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

fn filter(directives: Option<&str>, setting: &'static str) -> Result<Directives, InstallError> {
    Directives::parse(directives.unwrap_or("info"))
        .map_err(|source| InstallError::Filter { setting, source })
}

fn missing_endpoint() -> InstallError {
    ConfigError::new("endpoint", "", "an OTLP endpoint is required").into()
}

impl OtelBuilder {
    /// Starts the export threads and returns everything as one layer (the
    /// OpenTelemetry layer, the log layer, optional OTLP log export, each
    /// with its own filter) plus the guard, for code that composes its own
    /// subscriber. Nothing global is set.
    ///
    /// # Errors
    ///
    /// [`InstallError::Config`] for an invalid setting (also one read by
    /// [`from_env`](Self::from_env), such as an unknown
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, or HTTP/protobuf without the
    /// `otlp-http` feature), [`InstallError::Filter`] when the log or trace
    /// filter does not parse, [`InstallError::Exporter`] when an OTLP
    /// exporter cannot be built, and [`InstallError::Worker`] when an export
    /// thread cannot be started.
    ///
    /// ```
    /// use pipeline_telemetry_otel::{OtelBuilder, TracesExport};
    /// use tracing_subscriber::{layer::SubscriberExt, Registry};
    ///
    /// let (layer, _guard) = OtelBuilder::new("etl")
    ///     .with_traces(TracesExport::Off)
    ///     .build_layer::<Registry>()?;
    /// let subscriber = Registry::default().with(layer);
    /// tracing::subscriber::with_default(subscriber, || {
    ///     tracing::info!(pipeline_id = 42, "started");
    /// });
    /// # Ok::<(), pipeline_telemetry_otel::InstallError>(())
    /// ```
    pub fn build_layer<S>(mut self) -> Result<(BoxedLayer<S>, OtelGuard), InstallError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let resolved = resolve(&self)?;
        let log_filter = self.log_filter.clone();
        let log_events = || filter(log_filter.as_deref(), "log filter (RUST_LOG)");
        let trace_filter = filter(
            self.trace_filter.as_deref(),
            "trace filter (PIPELINE_TELEMETRY_TRACE_FILTER)",
        )?;
        let sink_config = resolved.target.clone().map(|target| SinkConfig {
            target,
            headers: self.headers.clone(),
            timeout: self.export_timeout,
            resource: resolved.resource.clone(),
        });
        if let Some(sc) = &sink_config {
            sc.validate()?;
        }
        let batch = BatchConfig {
            queue_size: self.queue_size,
            max_batch_size: self.max_batch_size,
            delay: self.batch_delay,
        };
        // Built up step by step: on an early error, dropping it stops the
        // threads started so far.
        let mut guard = OtelGuard {
            tracer_provider: None,
            logger_provider: None,
            spans: None,
            logs: None,
            traces: resolved.traces,
            shutdown_timeout: self.shutdown_timeout,
            done: false,
        };

        let mut layer: Option<BoxedLayer<S>> = None;

        if resolved.traces != TracesExport::Off {
            let batcher = Arc::new(match resolved.traces {
                TracesExport::Otlp => {
                    let sc = sink_config.clone().ok_or_else(missing_endpoint)?;
                    Batcher::spawn("traces", batch, move || OtlpSpanSink::build(&sc))?
                }
                _ => {
                    let writer = self
                        .console_writer
                        .take()
                        .unwrap_or_else(|| BoxMakeWriter::new(std::io::stderr));
                    let console = BatchConfig {
                        delay: batch.delay.min(Duration::from_secs(1)),
                        ..batch
                    };
                    Batcher::spawn("traces", console, move || Ok(ConsoleSpanSink::new(writer)))?
                }
            });
            let provider = SdkTracerProvider::builder()
                .with_span_processor(QueueSpanProcessor {
                    batcher: Arc::clone(&batcher),
                    flush_timeout: self.export_timeout,
                })
                .with_resource(resolved.resource.clone())
                .build();
            let tracer = provider.tracer(SCOPE);
            guard.spans = Some(batcher);
            guard.tracer_provider = Some(provider);
            let otel = tracing_opentelemetry::layer()
                .with_tracer(tracer)
                // Only what Datadog reads: no busy/idle times, thread,
                // source-location or target attributes on every span, and
                // no OpenTelemetry context switch on every entry unless
                // asked for.
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_location(false)
                .with_target(false)
                // OTLP log records take their trace and span ids from the
                // current OpenTelemetry context: exporting them needs it.
                .with_context_activation(self.context_activation || self.otlp_logs)
                .and_then(ExceptionLayer::default())
                .with_filter(trace_filter);
            layer = Some(Box::new(otel));
        }

        let writer = self.log_writer.take();
        let ansi = writer.is_none()
            && std::io::stdout().is_terminal()
            && std::env::var_os(pipeline_telemetry_catalogue::env::NO_COLOR).is_none();
        let writer = writer.unwrap_or_else(|| BoxMakeWriter::new(std::io::stdout));
        // The pipeline fields of spans (for log lines and baggage) are kept
        // by a layer under the log layer's own filter, which lets every
        // span up to INFO through: one per-layer filter for both.
        let log_layer: BoxedLayer<S> = match self.log_format {
            LogFormat::Json => Box::new(
                FieldsLayer
                    .and_then(JsonLogLayer::new(resolved.identity.clone(), writer))
                    .with_filter(EventsOnly::new(log_events()?)),
            ),
            LogFormat::Human => Box::new(
                FieldsLayer
                    .and_then(
                        tracing_subscriber::fmt::layer()
                            .with_writer(writer)
                            .with_ansi(ansi),
                    )
                    .with_filter(EventsOnly::new(log_events()?)),
            ),
        };
        let mut layer: BoxedLayer<S> = match layer {
            Some(otel) => Box::new(otel.and_then(log_layer)),
            None => log_layer,
        };

        if self.otlp_logs {
            let sc = sink_config.ok_or_else(missing_endpoint)?;
            let batcher = Arc::new(Batcher::spawn("logs", batch, move || {
                OtlpLogSink::build(&sc)
            })?);
            let provider = SdkLoggerProvider::builder()
                .with_log_processor(QueueLogProcessor {
                    batcher: Arc::clone(&batcher),
                    flush_timeout: self.export_timeout,
                })
                .with_resource(resolved.resource.clone())
                .build();
            let bridge = OpenTelemetryTracingBridge::new(&provider)
                .with_filter(EventsOnly::new(log_events()?).excluding_exporter_targets());
            guard.logs = Some(batcher);
            guard.logger_provider = Some(provider);
            layer = Box::new(layer.and_then(bridge));
        }
        Ok((layer, guard))
    }

    /// Installs traces and logs for the whole process: the global `tracing`
    /// subscriber (registry, OpenTelemetry layer, log layer), the global W3C
    /// propagator and the global tracer provider. Keep the guard alive until
    /// the end of `main`.
    ///
    /// # Errors
    ///
    /// Those of [`build_layer`](Self::build_layer), and
    /// [`InstallError::GlobalSubscriberAlreadySet`] (nothing is started)
    /// when a global subscriber exists already.
    ///
    /// ```no_run
    /// fn main() -> Result<(), Box<dyn std::error::Error>> {
    ///     let _guard = pipeline_telemetry_otel::OtelBuilder::from_env().install()?;
    ///     tracing::info!("running");
    ///     Ok(())
    /// }
    /// ```
    pub fn install(self) -> Result<OtelGuard, InstallError> {
        let (layer, guard) = self.build_layer::<Registry>()?;
        let subscriber = Registry::default().with(layer);
        // On failure the guard is dropped here, which stops its threads.
        tracing::subscriber::set_global_default(subscriber)
            .map_err(InstallError::GlobalSubscriberAlreadySet)?;
        opentelemetry::global::set_text_map_propagator(propagator());
        if let Some(provider) = guard.tracer_provider() {
            opentelemetry::global::set_tracer_provider(provider.clone());
        }
        Ok(guard)
    }
}
