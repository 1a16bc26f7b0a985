//! [`OtelBuilder`]: every setting, each with a `with_*` method.

use std::fmt;
use std::time::Duration;

use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

use crate::config::{LogFormat, Protocol, TracesExport};
use crate::error::ConfigError;
use crate::log_writer::DropHook;
use crate::sampling::{AgentRates, SamplingConfig};

mod export;
mod logs;
mod sampling;

/// A setting from the environment or code that is not used as given.
#[derive(Debug, Clone)]
pub(crate) struct Note {
    pub(crate) error: ConfigError,
    /// What is done instead, for the report.
    pub(crate) instead: String,
    pub(crate) kind: NoteKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteKind {
    /// Invalid and ignored (the default is used): an error for `install`.
    Ignored,
    /// Invalid, and no OTLP export can work with it: an error for
    /// `install`; `install_lenient` exports nothing over OTLP.
    BlocksOtlp,
    /// Used, but capped: reported, never an error.
    Capped,
}

/// Default bound of each export queue (spans or log records).
pub const DEFAULT_QUEUE_SIZE: usize = 2048;
/// Default largest batch sent in one export request.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 512;
/// Default time between two exports of a partly filled batch.
pub const DEFAULT_BATCH_DELAY: Duration = Duration::from_secs(2);
/// Default limit of one export request.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit of the flush when the guard is dropped.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest export queue (spans or log records) and export batch: a
/// larger [`with_queue_size`](OtelBuilder::with_queue_size),
/// [`with_max_batch_size`](OtelBuilder::with_max_batch_size),
/// `OTEL_BSP_MAX_QUEUE_SIZE` or `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` is capped
/// here, and reported once. A queue's slots are allocated when it starts
/// (368 bytes each for spans), so the cap bounds that memory at about
/// 24 MB a queue; `OTEL_BSP_MAX_QUEUE_SIZE=1000000000` used to ask for
/// 368 GB at start and abort.
pub const MAX_QUEUE_SIZE: usize = 65_536;
/// Default bound of the log line queue in front of the writer thread.
pub const DEFAULT_LOG_QUEUE_LINES: usize = 16_384;
/// The largest log line queue: a larger
/// [`with_log_queue_lines`](OtelBuilder::with_log_queue_lines) is capped
/// here, and reported once.
pub const MAX_LOG_QUEUE_LINES: usize = 1 << 20;

/// Configures traces and logs, then [installs](OtelBuilder::install) them
/// globally or [hands out the layers](OtelBuilder::build_layer).
///
/// [`OtelBuilder::from_env`] reads the Datadog and OpenTelemetry environment
/// variables; [`OtelBuilder::new`] starts from defaults and ignores the
/// environment. Either way every `with_*` call overrides what was there.
/// Each setter's doc names its default and the environment variable that
/// sets the same thing (declared in [`pipeline_telemetry_catalogue::env`]).
///
/// ```
/// use std::time::Duration;
/// use pipeline_telemetry_otel::{LogFormat, OtelBuilder, Protocol, TracesExport};
///
/// let builder = OtelBuilder::new("ingest-api")
///     .with_env("prod")
///     .with_version("1.4.2")
///     .with_endpoint("http://localhost:4317")
///     .with_protocol(Protocol::Grpc)
///     .with_traces(TracesExport::Otlp)
///     .with_log_format(LogFormat::Json)
///     .with_queue_size(4096)
///     .with_export_timeout(Duration::from_secs(5))
///     .with_shutdown_timeout(Duration::from_secs(3));
/// # drop(builder);
/// ```
pub struct OtelBuilder {
    pub(crate) service: Option<String>,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) endpoint: Option<String>,
    /// Where the endpoint came from (the variable or the builder method).
    pub(crate) endpoint_setting: &'static str,
    pub(crate) protocol: Option<Protocol>,
    /// Where the protocol came from.
    pub(crate) protocol_setting: &'static str,
    pub(crate) agent_host: Option<String>,
    /// The trace intake's URL and port (`DD_TRACE_AGENT_URL`,
    /// `DD_TRACE_AGENT_PORT`).
    pub(crate) trace_agent_url: Option<String>,
    pub(crate) trace_agent_port: Option<String>,
    /// Whether OTLP was configured (an endpoint, a protocol, or any
    /// `OTEL_EXPORTER_OTLP_*` variable): spans then go over OTLP.
    pub(crate) otlp_asked: bool,
    /// The Agent's trace socket, used when it exists and nothing else is
    /// configured (a field so that tests can point it elsewhere).
    pub(crate) apm_socket: std::path::PathBuf,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) traces: Option<TracesExport>,
    pub(crate) log_format: LogFormat,
    pub(crate) log_writer: Option<BoxMakeWriter>,
    pub(crate) console_writer: Option<BoxMakeWriter>,
    pub(crate) otlp_logs: bool,
    pub(crate) queue_size: usize,
    pub(crate) max_batch_size: usize,
    pub(crate) batch_delay: Duration,
    pub(crate) export_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) log_filter: Option<String>,
    pub(crate) trace_filter: Option<String>,
    pub(crate) context_activation: bool,
    pub(crate) native_stage_spans: bool,
    pub(crate) lossless_logs: bool,
    pub(crate) log_queue_lines: usize,
    pub(crate) log_drop_hook: Option<DropHook>,
    pub(crate) sampling: SamplingConfig,
    pub(crate) agent_rates: AgentRates,
    /// Settings not used as given (invalid environment values, capped
    /// sizes), reported by `install`/`build_layer` so that neither
    /// `from_env` nor a setter can fail.
    pub(crate) notes: Vec<Note>,
}

impl fmt::Debug for OtelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelBuilder")
            .field("service", &self.service)
            .field("env", &self.env)
            .field("version", &self.version)
            .field("resource_attributes", &self.resource_attributes)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("agent_host", &self.agent_host)
            .field("trace_agent_url", &self.trace_agent_url)
            .field("trace_agent_port", &self.trace_agent_port)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("traces", &self.traces)
            .field("log_format", &self.log_format)
            .field("otlp_logs", &self.otlp_logs)
            .field("queue_size", &self.queue_size)
            .field("max_batch_size", &self.max_batch_size)
            .field("batch_delay", &self.batch_delay)
            .field("export_timeout", &self.export_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("log_filter", &self.log_filter)
            .field("trace_filter", &self.trace_filter)
            .field("context_activation", &self.context_activation)
            .field("native_stage_spans", &self.native_stage_spans)
            .field("lossless_logs", &self.lossless_logs)
            .field("log_queue_lines", &self.log_queue_lines)
            .field("log_drop_hook", &self.log_drop_hook.is_some())
            .field("sampling", &self.sampling)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

impl OtelBuilder {
    /// Defaults only, with `service` as `service.name`; the environment is
    /// not read (use [`OtelBuilder::from_env`] and then
    /// [`with_service`](Self::with_service) to layer code over the
    /// environment).
    ///
    /// Without an endpoint, finished spans are printed to the console.
    pub fn new(service: impl Into<String>) -> Self {
        Self::empty().with_service(service)
    }

    pub(crate) fn empty() -> Self {
        Self {
            service: None,
            env: None,
            version: None,
            resource_attributes: Vec::new(),
            endpoint: None,
            endpoint_setting: "with_endpoint",
            protocol: None,
            protocol_setting: "with_protocol",
            agent_host: None,
            trace_agent_url: None,
            trace_agent_port: None,
            otlp_asked: false,
            apm_socket: crate::native::addr::default_socket(),
            headers: Vec::new(),
            traces: None,
            log_format: LogFormat::Human,
            log_writer: None,
            console_writer: None,
            otlp_logs: false,
            queue_size: DEFAULT_QUEUE_SIZE,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            batch_delay: DEFAULT_BATCH_DELAY,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            log_filter: None,
            trace_filter: None,
            context_activation: false,
            native_stage_spans: true,
            lossless_logs: false,
            log_queue_lines: DEFAULT_LOG_QUEUE_LINES,
            log_drop_hook: None,
            sampling: SamplingConfig::new(),
            agent_rates: AgentRates::new(),
            notes: Vec::new(),
        }
    }

    /// `service.name` of the resource and `service` / `dd.service` of log
    /// lines. Default: a `service.name` resource attribute, else
    /// `unknown_service:<executable name>`. Environment:
    /// [`DD_SERVICE`](pipeline_telemetry_catalogue::env::DD_SERVICE), else
    /// [`OTEL_SERVICE_NAME`](pipeline_telemetry_catalogue::env::OTEL_SERVICE_NAME).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// `deployment.environment.name` of the resource and `dd.env` of log lines.
    /// Default: that resource attribute, else none. Environment:
    /// [`DD_ENV`](pipeline_telemetry_catalogue::env::DD_ENV).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        self.env = Some(env.into());
        self
    }

    /// `service.version` of the resource and `dd.version` of log lines.
    /// Default: that resource attribute, else none. Environment:
    /// [`DD_VERSION`](pipeline_telemetry_catalogue::env::DD_VERSION).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Adds one resource attribute (a later value for the same key wins).
    /// Default: none. Environment:
    /// [`OTEL_RESOURCE_ATTRIBUTES`](pipeline_telemetry_catalogue::env::OTEL_RESOURCE_ATTRIBUTES)
    /// and the `key:value` tags of [`DD_TAGS`](pipeline_telemetry_catalogue::env::DD_TAGS).
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.resource_attributes.push((key.into(), value.into()));
        self
    }

    /// Where span summaries go in [`TracesExport::Console`] mode (stderr by
    /// default). No environment variable.
    pub fn with_console_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.console_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// Also exports log events as OTLP log records to the same endpoint
    /// (off by default; the Agent usually tails the JSON lines instead).
    /// Environment: [`PIPELINE_TELEMETRY_OTLP_LOGS`](pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_OTLP_LOGS),
    /// else [`OTEL_LOGS_EXPORTER`](pipeline_telemetry_catalogue::env::OTEL_LOGS_EXPORTER) set
    /// to `otlp`.
    pub fn with_otlp_logs(mut self, enabled: bool) -> Self {
        self.otlp_logs = enabled;
        self
    }

    /// Whether entering a `tracing` span also makes its OpenTelemetry
    /// context the current one (`opentelemetry::Context::current()`), for
    /// libraries instrumented with the OpenTelemetry API directly rather
    /// than with `tracing`. Off by default: it costs every span entry and
    /// exit a context switch, and nothing in `tracing`-based code reads it
    /// (spans, [`inject_context`](crate::inject_context) and the layer
    /// crates use the `tracing` span's own context). Always on with
    /// [`with_otlp_logs`](Self::with_otlp_logs): OTLP log records take their
    /// trace and span ids from it. No environment variable.
    pub fn with_context_activation(mut self, enabled: bool) -> Self {
        self.context_activation = enabled;
        self
    }

    /// Whether stage spans (`pipeline.stage`) under a traced parent are
    /// kept by this crate rather than by `tracing-opentelemetry`: the same
    /// exported span, at a fraction of the cost on the pipeline's thread.
    /// On by default; off with context activation (and so with OTLP logs),
    /// which needs `tracing-opentelemetry`'s context switch on entry.
    ///
    /// What changes for code inside a stage: `tracing` spans, log lines,
    /// [`inject_context`](crate::inject_context) and [`span_context`](crate::span_context)
    /// see the stage span as before, but
    /// `tracing_opentelemetry::OpenTelemetrySpanExt` methods called on the
    /// stage span itself do not (`context()` is empty, `set_attribute` is
    /// ignored). Turn this off if code calls them on a stage's span. No
    /// environment variable.
    ///
    /// ```
    /// let builder = pipeline_telemetry_otel::OtelBuilder::new("etl").with_native_stage_spans(false);
    /// # let _ = builder;
    /// ```
    pub fn with_native_stage_spans(mut self, enabled: bool) -> Self {
        self.native_stage_spans = enabled;
        self
    }

    /// Bound of each export queue. When it is full, new spans or records are
    /// dropped and counted (see [`OtelGuard::stats`](crate::OtelGuard::stats));
    /// the application never blocks. Default: [`DEFAULT_QUEUE_SIZE`].
    /// Environment: [`OTEL_BSP_MAX_QUEUE_SIZE`](pipeline_telemetry_catalogue::env::OTEL_BSP_MAX_QUEUE_SIZE).
    /// At most [`MAX_QUEUE_SIZE`] (a larger size is capped, and reported
    /// once at install); at least 1.
    pub fn with_queue_size(mut self, size: usize) -> Self {
        self.queue_size = self.capped("with_queue_size", size, MAX_QUEUE_SIZE);
        self
    }

    /// Largest number of spans or records in one export request. Default:
    /// [`DEFAULT_MAX_BATCH_SIZE`]. Environment:
    /// [`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`](pipeline_telemetry_catalogue::env::OTEL_BSP_MAX_EXPORT_BATCH_SIZE).
    /// At most [`MAX_QUEUE_SIZE`] (capped, and reported once at install),
    /// and never more than the queue size (as the OpenTelemetry
    /// specification says); at least 1.
    pub fn with_max_batch_size(mut self, size: usize) -> Self {
        self.max_batch_size = self.capped("with_max_batch_size", size, MAX_QUEUE_SIZE);
        self
    }

    /// Longest time a finished span waits in the queue before it is exported.
    /// Default: [`DEFAULT_BATCH_DELAY`]. Environment:
    /// [`OTEL_BSP_SCHEDULE_DELAY`](pipeline_telemetry_catalogue::env::OTEL_BSP_SCHEDULE_DELAY) (milliseconds).
    /// Any duration: below 1 ms counts as 1 ms; a delay too long to
    /// schedule (`Duration::MAX`) means batches go out only when full,
    /// flushed or shut down.
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = delay;
        self
    }

    /// Limit of one export request (including retries). Default:
    /// [`DEFAULT_EXPORT_TIMEOUT`]. Environment:
    /// [`OTEL_BSP_EXPORT_TIMEOUT`](pipeline_telemetry_catalogue::env::OTEL_BSP_EXPORT_TIMEOUT) (milliseconds).
    /// Any duration, `Duration::MAX` included (no limit).
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = timeout;
        self
    }

    /// Longest wait for the final flush when the [`OtelGuard`](crate::OtelGuard)
    /// is dropped. Default: [`DEFAULT_SHUTDOWN_TIMEOUT`]. Any duration,
    /// `Duration::MAX` included (waits as long as the export takes). No
    /// environment variable.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Which spans (and events as span events) are traced, in `RUST_LOG`
    /// syntax. Default: `info`. Environment:
    /// [`PIPELINE_TELEMETRY_TRACE_FILTER`](pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_TRACE_FILTER).
    pub fn with_trace_filter(mut self, directives: impl Into<String>) -> Self {
        self.trace_filter = Some(directives.into());
        self
    }

    /// Records a setting that is not used as given.
    pub(crate) fn note(&mut self, error: ConfigError, instead: impl Into<String>, kind: NoteKind) {
        self.notes.push(Note {
            error,
            instead: instead.into(),
            kind,
        });
    }

    /// `value` within `1..=max`; a value over `max` is noted for the report.
    pub(crate) fn capped(&mut self, setting: &str, value: usize, max: usize) -> usize {
        if value > max {
            self.note(
                ConfigError::new(
                    setting,
                    value.to_string(),
                    format!("more than the cap of {max}"),
                ),
                format!("using {max}"),
                NoteKind::Capped,
            );
        }
        value.clamp(1, max)
    }
}
