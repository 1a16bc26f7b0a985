//! `init()`: one call that sets up metrics (and, with the `otlp` feature,
//! traces and logs) from Datadog's environment variables.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pipeline_telemetry_dogstatsd::{self as dogstatsd, DogStatsDBuilder, Target};
#[cfg(feature = "traces")]
use pipeline_telemetry_otel::OtelBuilder;

use crate::error::InitError;
use crate::guard::TelemetryGuard;

mod target;

use target::default_target;
#[cfg(feature = "traces")]
use target::with_drop_counter;
pub use target::{Fallback, LOGS_DROPPED_METRIC};

/// Whether a [`TelemetryGuard`] is alive.
pub(crate) static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Every setting of [`init`], overridable in code.
///
/// Each setter's doc names its default and the environment variable that
/// sets the same thing (declared in [`catalogue::env`](crate::catalogue::env));
/// [`from_env`](Self::from_env) reads them, and a setter called afterwards
/// wins.
///
/// ```
/// use pipeline_telemetry::{MetricsTarget, TelemetryBuilder};
///
/// let builder = TelemetryBuilder::from_env()
///     .with_service("ingest")
///     .with_env("dev")
///     .with_metrics_target(MetricsTarget::Console);
/// ```
#[derive(Debug)]
pub struct TelemetryBuilder {
    target: Option<Target>,
    fallback: Fallback,
    env_error: Option<dogstatsd::ConfigError>,
    dogstatsd: DogStatsDBuilder,
    strict_recorder: bool,
    quiet: bool,
    run_events: bool,
    #[cfg(feature = "traces")]
    otel: Option<OtelBuilder>,
}

impl TelemetryBuilder {
    /// Settings from the environment: the metrics target from
    /// [`DD_DOGSTATSD_URL`](crate::catalogue::env::DD_DOGSTATSD_URL), else [`DD_AGENT_HOST`](crate::catalogue::env::DD_AGENT_HOST) and [`DD_DOGSTATSD_PORT`](crate::catalogue::env::DD_DOGSTATSD_PORT);
    /// the tags of [`DogStatsDBuilder::with_env_tags`]
    /// ([`DD_SERVICE`](crate::catalogue::env::DD_SERVICE),
    /// [`DD_ENV`](crate::catalogue::env::DD_ENV),
    /// [`DD_VERSION`](crate::catalogue::env::DD_VERSION),
    /// [`DD_TAGS`](crate::catalogue::env::DD_TAGS), ...); and, with the `otlp`
    /// feature, the traces and logs settings of `OtelBuilder::from_env`. An
    /// invalid target variable is reported by [`init`](Self::init).
    pub fn from_env() -> Self {
        let (target, env_error) = match Target::from_env() {
            Ok(t) => (t, None),
            Err(e) => (None, Some(e)),
        };
        TelemetryBuilder {
            target,
            fallback: Fallback::Console,
            env_error,
            dogstatsd: DogStatsDBuilder::new(Target::Console).with_env_tags(),
            strict_recorder: false,
            quiet: false,
            run_events: false,
            #[cfg(feature = "traces")]
            otel: Some(OtelBuilder::from_env()),
        }
    }

    /// Where metrics go, replacing what the environment says. Default: the
    /// target of [`DD_DOGSTATSD_URL`](crate::catalogue::env::DD_DOGSTATSD_URL), else [`DD_AGENT_HOST`](crate::catalogue::env::DD_AGENT_HOST) and
    /// [`DD_DOGSTATSD_PORT`](crate::catalogue::env::DD_DOGSTATSD_PORT) (default port 8125), else the
    /// [fallback](Self::with_fallback).
    pub fn with_metrics_target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self.env_error = None;
        self
    }

    /// Where metrics go when no Agent is configured. Default:
    /// [`Fallback::Console`]. No environment variable.
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// Sets the `service` tag of metrics and the service of spans and logs.
    /// Default: none (spans then use `OTEL_SERVICE_NAME`, else
    /// `unknown_service:<executable>`). Environment:
    /// [`DD_SERVICE`](crate::catalogue::env::DD_SERVICE).
    pub fn with_service(mut self, service: impl Into<String>) -> Self {
        let service = service.into();
        #[cfg(feature = "traces")]
        {
            self.otel = self.otel.map(|o| o.with_service(service.clone()));
        }
        self.dogstatsd = self.dogstatsd.with_service(service);
        self
    }

    /// Sets the `env` tag of metrics, spans and logs. Default: none.
    /// Environment: [`DD_ENV`](crate::catalogue::env::DD_ENV).
    pub fn with_env(mut self, env: impl Into<String>) -> Self {
        let env = env.into();
        #[cfg(feature = "traces")]
        {
            self.otel = self.otel.map(|o| o.with_env(env.clone()));
        }
        self.dogstatsd = self.dogstatsd.with_env(env);
        self
    }

    /// Sets the `version` tag of metrics, spans and logs. Default: none.
    /// Environment: [`DD_VERSION`](crate::catalogue::env::DD_VERSION).
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        let version = version.into();
        #[cfg(feature = "traces")]
        {
            self.otel = self.otel.map(|o| o.with_version(version.clone()));
        }
        self.dogstatsd = self.dogstatsd.with_version(version);
        self
    }

    /// Adds a global tag on every metric, replacing one with the same key.
    /// Default: none. Environment: [`DD_TAGS`](crate::catalogue::env::DD_TAGS)
    /// (`key:value` or bare tags, separated by commas or spaces).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.dogstatsd = self.dogstatsd.with_tag(key, value);
        self
    }

    /// How often metrics are flushed. Default:
    /// [`DEFAULT_FLUSH_INTERVAL`](dogstatsd::DEFAULT_FLUSH_INTERVAL) (1 s).
    /// No environment variable.
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.dogstatsd = self.dogstatsd.with_flush_interval(interval);
        self
    }

    /// The largest datagram sent. Default:
    /// [`UDP_MAX_PAYLOAD`](dogstatsd::UDP_MAX_PAYLOAD) (1432 bytes) over
    /// UDP, [`UDS_MAX_PAYLOAD`](dogstatsd::UDS_MAX_PAYLOAD) (8192) over Unix
    /// sockets. No environment variable.
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.dogstatsd = self.dogstatsd.with_max_payload(bytes);
        self
    }

    /// Adjusts the traces and logs settings (OTLP endpoint and protocol,
    /// log format, ...). Default: `OtelBuilder::from_env`, whose doc lists
    /// each setting's environment variable (`OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// `PIPELINE_TELEMETRY_LOG_FORMAT`, ...).
    #[cfg(feature = "traces")]
    pub fn with_otel(mut self, configure: impl FnOnce(OtelBuilder) -> OtelBuilder) -> Self {
        self.otel = Some(configure(
            self.otel.take().unwrap_or_else(OtelBuilder::from_env),
        ));
        self
    }

    /// Sets up metrics only: no `tracing` subscriber, no span export.
    /// Default: traces and logs are set up. No environment variable
    /// (`PIPELINE_TELEMETRY_TRACES=off` turns span export off but keeps
    /// the log subscriber).
    #[cfg(feature = "traces")]
    pub fn without_otel(mut self) -> Self {
        self.otel = None;
        self
    }

    /// At the end of each run, send the service check `pipeline.run`
    /// (OK or CRITICAL, tagged `pipeline`) and, for a failed run, an event
    /// (alert type error, aggregated by pipeline). Default: off. No
    /// environment variable.
    pub fn with_run_events(mut self, enabled: bool) -> Self {
        self.run_events = enabled;
        self
    }

    /// Do not print the note about where metrics go when none is
    /// configured. Default: the note is printed (on stderr). No environment
    /// variable.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Initialises telemetry. Lenient:
    ///
    /// - a tracing or logging setting never stops it and never costs the
    ///   metrics: an invalid or unusable one (an unknown
    ///   `OTEL_EXPORTER_OTLP_PROTOCOL`, an `https://` endpoint, HTTP/protobuf
    ///   in a build without `otlp-http`, an unknown `PIPELINE_TELEMETRY_*`
    ///   value, a `RUST_LOG` that does not parse, ...) is reported once on
    ///   stderr, one line each (what, which variable, what to set, what runs
    ///   instead), and the rest runs: metrics always, and whatever of traces
    ///   and logs can work (see `OtelBuilder::install_lenient`);
    /// - if another `metrics` recorder is already installed, `metrics::`
    ///   macros keep going there but `#[instrument_stage]` and
    ///   [`PipelineRun`](crate::PipelineRun) still report through this
    ///   exporter; if a global `tracing` subscriber is already installed,
    ///   spans keep going to it.
    ///
    /// [`try_init`](Self::try_init) fails on each of these instead. Neither
    /// panics (unlike tracing-subscriber's `init()`).
    ///
    /// # Errors
    /// [`InitError`] when a metrics setting (`DD_*`) is invalid, the
    /// DogStatsD exporter cannot start, or telemetry is already initialised
    /// in this process.
    pub fn init(self) -> Result<TelemetryGuard, InitError> {
        self.start()
    }

    /// Like [`init`](Self::init) but strict: fails if another `metrics`
    /// recorder or a global `tracing` subscriber is installed, and on the
    /// first tracing or logging setting that cannot be used as given (the
    /// error says it, and nothing is printed for it). A span queue or batch
    /// size above its cap is not such a setting: it is lowered to the cap
    /// and reported once on stderr, as by `init`. Neither panics.
    ///
    /// # Errors
    /// As [`init`](Self::init), and [`InitError::Metrics`] /
    /// `InitError::Tracing` (feature `otlp`) when another recorder or global
    /// subscriber is installed or a traces or logs setting is invalid.
    pub fn try_init(mut self) -> Result<TelemetryGuard, InitError> {
        self.strict_recorder = true;
        self.start()
    }

    fn start(self) -> Result<TelemetryGuard, InitError> {
        if let Some(e) = self.env_error {
            return Err(InitError::Config(e));
        }
        if ACTIVE.swap(true, Ordering::AcqRel) {
            return Err(InitError::AlreadyInitialized);
        }
        // Chosen (and said) only once telemetry is known to start here: a
        // second `init()` neither probes for an Agent nor prints again.
        let target = match self.target {
            Some(t) => t,
            None => default_target(self.fallback, self.quiet),
        };
        let result = (|| {
            match dogstatsd::install_recorder() {
                Ok(()) => {}
                Err(e) if self.strict_recorder => return Err(InitError::Metrics(e)),
                Err(_) => {}
            }
            self.dogstatsd
                .with_target(target)
                .start()
                .map_err(InitError::Metrics)
        })();
        let metrics = match result {
            Ok(m) => {
                crate::run_state::RUN_EVENTS.store(self.run_events, Ordering::Relaxed);
                m
            }
            Err(e) => {
                ACTIVE.store(false, Ordering::Release);
                return Err(e);
            }
        };
        #[cfg(feature = "traces")]
        let otel = match self.otel.map(with_drop_counter) {
            None => None,
            Some(otel) if self.strict_recorder => match otel.install() {
                Ok(g) => Some(g),
                Err(e) => {
                    drop(metrics);
                    ACTIVE.store(false, Ordering::Release);
                    return Err(InitError::Tracing(e));
                }
            },
            Some(otel) => match otel.install_lenient() {
                Ok((g, problems)) => {
                    // Each once, one line each; the metrics run regardless.
                    for p in problems {
                        eprintln!("pipeline-telemetry: {p}");
                    }
                    Some(g)
                }
                // The application has its own subscriber; spans go there.
                Err(pipeline_telemetry_otel::InstallError::GlobalSubscriberAlreadySet(_)) => None,
                Err(e) => {
                    eprintln!(
                        "pipeline-telemetry: {}; traces and logs are not set up, metrics run",
                        crate::error::chain(&e)
                    );
                    None
                }
            },
        };
        Ok(TelemetryGuard {
            metrics: Some(metrics),
            #[cfg(feature = "traces")]
            otel,
        })
    }
}

/// Initialises telemetry from the environment; see [`TelemetryBuilder`].
/// A tracing or logging setting that cannot be used is reported once on
/// stderr and never fails it (see [`TelemetryBuilder::init`]). Never panics
/// (unlike tracing-subscriber's `init()`).
///
/// # Errors
/// As [`TelemetryBuilder::init`].
///
/// ```no_run
/// let _telemetry = pipeline_telemetry::init()?;
/// # Ok::<(), pipeline_telemetry::InitError>(())
/// ```
pub fn init() -> Result<TelemetryGuard, InitError> {
    TelemetryBuilder::from_env().init()
}

/// Like [`init`], but fails if another `metrics` recorder or global
/// `tracing` subscriber is installed, or a tracing or logging setting
/// cannot be used as given. Neither function panics: unlike
/// tracing-subscriber's convention (`init()` panics where `try_init()`
/// returns the error), both return [`InitError`]; see
/// [`TelemetryBuilder::try_init`].
///
/// # Errors
/// As [`TelemetryBuilder::try_init`].
pub fn try_init() -> Result<TelemetryGuard, InitError> {
    TelemetryBuilder::from_env().try_init()
}
