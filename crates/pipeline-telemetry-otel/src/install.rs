//! Builds the layers and export threads from an [`OtelBuilder`], and
//! installs them as the global subscriber.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Registry;

use crate::batch::{BatchConfig, Batcher};
use crate::builder::OtelBuilder;
use crate::config::TracesExport;
use crate::console::ConsoleSpanSink;
use crate::datadog_fields::SCOPE;
use crate::directives::Directives;
use crate::error::{ConfigError, InstallError};
use crate::exception::ExceptionLayer;
use crate::guard::OtelGuard;
use crate::log_filter::EventsOnly;
use crate::native::NativeSpanSink;
use crate::problem::{Problem, Problems};
use crate::processor::{QueueLogProcessor, QueueSpanProcessor};
use crate::propagation::propagator;
use crate::resolve::resolve;
use crate::sink::{self, SinkConfig};
use crate::stage_spans::{StageExport, StageSpans};
use entry::WithoutEntry;

mod entry;
mod log_layer;

/// The combined layer handed out by [`OtelBuilder::build_layer`].
pub type BoxedLayer<S> = Box<dyn Layer<S> + Send + Sync + 'static>;

/// The filter of `directives` (default `info`); an invalid one is a
/// problem, and means `info`.
fn filter(
    directives: Option<&str>,
    setting: &'static str,
    problems: &mut Problems,
    instead: &str,
) -> Result<Directives, InstallError> {
    match Directives::parse(directives.unwrap_or("info")) {
        Ok(d) => Ok(d),
        Err(source) => {
            problems.invalid(InstallError::Filter { setting, source }, instead)?;
            Ok(Directives::Static(
                Targets::new().with_default(LevelFilter::INFO),
            ))
        }
    }
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
    /// Strict: a setting that cannot be used is an error, and nothing is
    /// printed for it. The one exception is a queue or batch size above its
    /// cap (`OTEL_BSP_MAX_QUEUE_SIZE`, ...): it is lowered to the cap and
    /// reported once on stderr (`pipeline-telemetry: invalid ...; using
    /// <cap>`), never an error.
    ///
    /// # Errors
    ///
    /// [`InstallError::Config`] for an invalid setting (also one read by
    /// [`from_env`](Self::from_env), such as an unknown
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`, or an OTLP transport the build lacks:
    /// `otlp-grpc`, `otlp-http`), [`InstallError::Filter`] when the log or
    /// trace filter does not parse, `InstallError::Exporter` (builds with
    /// an OTLP transport) when an OTLP exporter cannot be built, and
    /// [`InstallError::Worker`] when an export thread cannot be started.
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
    pub fn build_layer<S>(self) -> Result<(BoxedLayer<S>, OtelGuard), InstallError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let mut problems = Problems::new(false);
        let built = self.build(&mut problems)?;
        // Capped sizes: reported, never an error.
        problems.print();
        Ok(built)
    }

    /// Like [`build_layer`](Self::build_layer), but a setting that cannot be
    /// used is not an error: it is returned as a [`Problem`] (one report
    /// line each; nothing is printed) and what works runs. An unusable
    /// endpoint or transport turns OTLP export off (spans are still traced
    /// for log correlation only if another export is chosen), an invalid
    /// log or trace filter means `info`, an invalid environment value keeps
    /// its default, an exporter or thread that cannot start is left out.
    ///
    /// # Errors
    ///
    /// None today for a setting; the `Result` is kept for errors that leave
    /// nothing to run.
    #[allow(clippy::type_complexity)]
    pub fn build_layer_lenient<S>(
        self,
    ) -> Result<(BoxedLayer<S>, OtelGuard, Vec<Problem>), InstallError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let mut problems = Problems::new(true);
        let (layer, guard) = self.build(&mut problems)?;
        Ok((layer, guard, problems.list))
    }

    fn build<S>(
        mut self,
        problems: &mut Problems,
    ) -> Result<(BoxedLayer<S>, OtelGuard), InstallError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let resolved = resolve(&self, problems)?;
        let destination = resolved.destination();
        let log_filter = filter(
            self.log_filter.as_deref(),
            "log filter (RUST_LOG)",
            problems,
            "logging at `info`",
        )?;
        let trace_filter = filter(
            self.trace_filter.as_deref(),
            "trace filter (PIPELINE_TELEMETRY_TRACE_FILTER)",
            problems,
            "tracing at `info`",
        )?;
        let sink_config = resolved.target.clone().map(|target| SinkConfig {
            target,
            headers: self.headers.clone(),
            timeout: self.export_timeout,
            resource: resolved.resource.clone(),
        });
        let batch = BatchConfig {
            queue_size: self.queue_size,
            max_batch_size: self.max_batch_size.min(self.queue_size),
            delay: self.batch_delay,
        };
        // Built up step by step: on an early error, dropping it stops the
        // threads started so far.
        let mut guard = OtelGuard {
            tracer_provider: None,
            logger_provider: None,
            spans: None,
            logs: None,
            log_writer: None,
            traces: TracesExport::Off,
            shutdown_timeout: self.shutdown_timeout,
            done: false,
            pid: std::process::id(),
            destination: None,
        };

        let mut layer: Option<BoxedLayer<S>> = None;

        if resolved.traces != TracesExport::Off {
            let spawned = match resolved.traces {
                TracesExport::Otlp => match sink_config.clone() {
                    Some(sc) => sink::spawn_spans(batch, sc),
                    None => Err(missing_endpoint()),
                },
                TracesExport::Datadog => match resolved.intake.clone() {
                    Some(intake) => {
                        let sink = NativeSpanSink::new(
                            intake,
                            self.headers.clone(),
                            self.export_timeout,
                            resolved.resource.clone(),
                            Some(self.agent_rates_hook()),
                        );
                        Batcher::spawn("traces", batch, move || Ok(sink))
                    }
                    None => Err(missing_endpoint()),
                },
                _ => {
                    let writer = self
                        .console_writer
                        .take()
                        .unwrap_or_else(|| BoxMakeWriter::new(std::io::stderr));
                    let console = BatchConfig {
                        delay: batch.delay.min(Duration::from_secs(1)),
                        ..batch
                    };
                    Batcher::spawn("traces", console, move || Ok(ConsoleSpanSink::new(writer)))
                }
            };
            match spawned {
                Ok(batcher) => {
                    let batcher = Arc::new(batcher);
                    let provider = SdkTracerProvider::builder()
                        .with_span_processor(QueueSpanProcessor {
                            batcher: Arc::clone(&batcher),
                            flush_timeout: self.export_timeout,
                            // The trace intake takes rejected traces too.
                            export_rejected: resolved.traces == TracesExport::Datadog,
                        })
                        .with_resource(resolved.resource.clone())
                        .with_sampler(self.sampler(&resolved.identity, &resolved.resource))
                        .build();
                    let tracer = provider.tracer(SCOPE);
                    // OTLP log records read the current OpenTelemetry
                    // context, which a stage span kept by `StageSpans`
                    // does not set.
                    let activation = self.context_activation || resolved.otlp_logs;
                    let stage_export =
                        (self.native_stage_spans && !activation).then(|| StageExport {
                            batcher: Arc::clone(&batcher),
                            export_rejected: resolved.traces == TracesExport::Datadog,
                        });
                    guard.spans = Some(batcher);
                    guard.tracer_provider = Some(provider);
                    guard.traces = resolved.traces;
                    guard.destination = destination;
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
                        .with_context_activation(activation);
                    let reads_spans = trace_filter.reads_spans();
                    let otel = StageSpans::new::<S>(otel, stage_export)
                        .and_then(ExceptionLayer::default())
                        .with_filter(trace_filter);
                    layer = Some(if activation || reads_spans {
                        Box::new(otel)
                    } else {
                        Box::new(WithoutEntry::new(otel, false))
                    });
                }
                Err(e) => problems.invalid(e, "spans are not exported")?,
            }
        }

        let log_layer = self.log_layer::<S>(&resolved, log_filter, problems, &mut guard)?;
        let mut layer: BoxedLayer<S> = match layer {
            Some(otel) => Box::new(otel.and_then(log_layer)),
            None => log_layer,
        };

        if resolved.otlp_logs {
            let spawned = match sink_config {
                Some(sc) => sink::spawn_logs(batch, sc),
                None => Err(missing_endpoint()),
            };
            match spawned {
                Ok(batcher) => {
                    let batcher = Arc::new(batcher);
                    let provider = SdkLoggerProvider::builder()
                        .with_log_processor(QueueLogProcessor {
                            batcher: Arc::clone(&batcher),
                            flush_timeout: self.export_timeout,
                        })
                        .with_resource(resolved.resource.clone())
                        .build();
                    let events = filter(
                        self.log_filter.as_deref(),
                        "log filter (RUST_LOG)",
                        &mut Problems::new(true),
                        "",
                    )?;
                    let bridge = OpenTelemetryTracingBridge::new(&provider)
                        .with_filter(EventsOnly::new(events).excluding_exporter_targets());
                    guard.logs = Some(batcher);
                    guard.logger_provider = Some(provider);
                    layer = Box::new(layer.and_then(bridge));
                }
                Err(e) => problems.invalid(e, "OTLP log records are not exported")?,
            }
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
        set_global(layer, guard)
    }

    /// Like [`install`](Self::install), but a setting that cannot be used
    /// is not an error (see [`build_layer_lenient`](Self::build_layer_lenient)):
    /// what works is installed, and each problem is returned, for the caller
    /// to report once (`pipeline_telemetry::init` prints one line each on
    /// stderr).
    ///
    /// # Errors
    ///
    /// [`InstallError::GlobalSubscriberAlreadySet`] (nothing is started)
    /// when a global subscriber exists already.
    ///
    /// ```no_run
    /// let (_guard, problems) = pipeline_telemetry_otel::OtelBuilder::from_env().install_lenient()?;
    /// for p in problems {
    ///     eprintln!("tracing setup: {p}");
    /// }
    /// # Ok::<(), pipeline_telemetry_otel::InstallError>(())
    /// ```
    pub fn install_lenient(self) -> Result<(OtelGuard, Vec<Problem>), InstallError> {
        let (layer, guard, problems) = self.build_layer_lenient::<Registry>()?;
        Ok((set_global(layer, guard)?, problems))
    }
}

fn set_global(layer: BoxedLayer<Registry>, guard: OtelGuard) -> Result<OtelGuard, InstallError> {
    let subscriber = Registry::default().with(layer);
    // On failure the guard is dropped here, which stops its threads.
    tracing::subscriber::set_global_default(subscriber)
        .map_err(InstallError::GlobalSubscriberAlreadySet)?;
    // Where spans go, said once per process (the global install happens
    // once).
    if let Some(line) = &guard.destination {
        eprintln!("pipeline-telemetry: {line}");
    }
    opentelemetry::global::set_text_map_propagator(propagator());
    if let Some(provider) = guard.tracer_provider() {
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    Ok(guard)
}
