//! [`SparkMonitor`]: the configuration, and starting it.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::client::api_base;
use crate::collector::Collector;
use crate::emit::JobNaming;
use crate::error::StartError;
use crate::guard::SparkMonitorGuard;

/// The default time between two polls.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The default longest wait between two polls while the API fails.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The default timeout of one HTTP request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The default time during which an unreachable API is expected (the
/// application is starting) and not reported.
pub const DEFAULT_STARTUP_GRACE: Duration = Duration::from_secs(60);
/// The default cap on distinct `job` tag values in a process.
pub const DEFAULT_MAX_JOB_NAMES: usize = 100;

/// Polls Spark's monitoring REST API while a stage runs: emits
/// `spark.job.duration` once per finished job, `spark.executors.active`
/// per poll, and each finished job as a backdated `spark.job` span under
/// the span current at [`start`](Self::start).
///
/// ```no_run
/// use std::time::Duration;
/// use pipeline_telemetry_spark::SparkMonitor;
///
/// # fn spark_submit() -> std::io::Result<()> { Ok(()) }
/// let monitor = SparkMonitor::new("http://127.0.0.1:4040")
///     .with_interval(Duration::from_secs(2))
///     // The application takes its UI down when it ends: the final read
///     // takes the jobs it missed from the event log (see
///     // `with_event_log_dir` for the spark-submit flags).
///     .with_event_log_dir("/tmp/spark-events")
///     .start()?;
/// spark_submit()?;
/// let stats = monitor.stop()?; // a final read, then the thread ends
/// println!("{} Spark jobs reported", stats.jobs_reported);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SparkMonitor {
    pub(crate) url: String,
    pub(crate) app_id: Option<String>,
    pub(crate) app_name: Option<String>,
    pub(crate) interval: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) startup_grace: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) naming: JobNaming,
    pub(crate) max_job_names: usize,
    pub(crate) spans: bool,
    pub(crate) event_log_dir: Option<std::path::PathBuf>,
    pub(crate) tracer_provider: Option<SdkTracerProvider>,
    /// Tests: what the monitor's thread waits for before building its
    /// client.
    #[cfg(test)]
    pub(crate) start_gate: Option<crate::start_tests::Gate>,
}

impl SparkMonitor {
    /// A monitor of the Spark UI (`http://<driver>:4040`) or history server
    /// (`http://<host>:18080`) at `url`; `/api/v1` is appended unless
    /// present. The application is the only one a driver's UI lists, or
    /// see [`with_app_id`](Self::with_app_id) /
    /// [`with_app_name`](Self::with_app_name).
    pub fn new(url: impl Into<String>) -> Self {
        SparkMonitor {
            url: url.into(),
            app_id: None,
            app_name: None,
            interval: DEFAULT_INTERVAL,
            max_backoff: DEFAULT_MAX_BACKOFF,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            startup_grace: DEFAULT_STARTUP_GRACE,
            stop_timeout: DEFAULT_REQUEST_TIMEOUT * 4 + Duration::from_secs(1),
            naming: JobNaming::default(),
            max_job_names: DEFAULT_MAX_JOB_NAMES,
            spans: true,
            event_log_dir: None,
            tracer_provider: None,
            #[cfg(test)]
            start_gate: None,
        }
    }

    /// Watches the application with this id (needed on a history server).
    pub fn with_app_id(mut self, id: impl Into<String>) -> Self {
        self.app_id = Some(id.into());
        self
    }

    /// Watches the newest application with this name (a history server, a
    /// cluster's UI) when no id is given.
    pub fn with_app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = Some(name.into());
        self
    }

    /// Time between two polls (default 5 s; at least 10 ms).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Longest wait between polls while the API fails (default 30 s): the
    /// wait doubles from the interval after each failure, up to this.
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// Timeout of one HTTP request (default 5 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long after start an unreachable API is expected and not reported
    /// (default 60 s: `spark-submit` takes a while to bring its UI up).
    pub fn with_startup_grace(mut self, grace: Duration) -> Self {
        self.startup_grace = grace;
        self
    }

    /// Longest wait of [`SparkMonitorGuard::stop`] for the final read
    /// (default four request timeouts and a second).
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// Where the `job` tag comes from (default: job group, else
    /// description).
    pub fn with_job_naming(mut self, naming: JobNaming) -> Self {
        self.naming = naming;
        self
    }

    /// Cap on distinct `job` tag values in this process (default 100),
    /// shared by all its monitors, one after the other or at once: a name
    /// tagged before keeps its tag, a new one gets room only while fewer
    /// than `max` names were tagged in the process, else `job:other`.
    pub fn with_max_job_names(mut self, max: usize) -> Self {
        self.max_job_names = max;
        self
    }

    /// Where the application writes its event log
    /// (`--conf spark.eventLog.enabled=true --conf
    /// spark.eventLog.dir=file:///that/dir`), one file or rolling
    /// (`eventlog_v2_<app>/events_<N>_<app>`), uncompressed: since Spark
    /// 4.0 that needs saying, `--conf spark.eventLog.compress=false` (a
    /// compressed log is reported once and counted in
    /// [`MonitorStats::event_log_unreadable`](crate::MonitorStats::event_log_unreadable)):
    /// when the final read finds the REST API gone, because the
    /// application ended and took its UI with it (a `spark-submit` that
    /// ended before the next poll, or before the first), the jobs not yet
    /// reported are read from the application's log there (by the id
    /// found while it ran, else [`with_app_id`](Self::with_app_id), else
    /// the newest log written since the monitor started, named as
    /// [`with_app_name`](Self::with_app_name) says). The log is Spark's own
    /// record, the one its history server serves.
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use pipeline_telemetry_spark::SparkMonitor;
    ///
    /// let status = SparkMonitor::new("http://127.0.0.1:4040")
    ///     .with_event_log_dir("/tmp/spark-events")
    ///     .watch(|| {
    ///         Command::new("spark-submit")
    ///             .args(["--conf", "spark.ui.port=4040"])
    ///             .args(["--conf", "spark.eventLog.enabled=true"])
    ///             .args(["--conf", "spark.eventLog.dir=file:///tmp/spark-events"])
    ///             // Spark 4 compresses event logs by default.
    ///             .args(["--conf", "spark.eventLog.compress=false"])
    ///             .arg("etl.py")
    ///             .status()
    ///     })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_event_log_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.event_log_dir = Some(dir.into());
        self
    }

    /// Whether finished jobs become spans (default true).
    pub fn with_spans(mut self, spans: bool) -> Self {
        self.spans = spans;
        self
    }

    /// Records job spans through this provider (the
    /// [`OtelGuard`](pipeline_telemetry_otel::OtelGuard)'s, when traces were
    /// set up with `build_layer`); by default the global one that
    /// `pipeline_telemetry::init()` installs.
    pub fn with_tracer_provider(mut self, provider: SdkTracerProvider) -> Self {
        self.tracer_provider = Some(provider);
        self
    }

    /// Starts polling on a thread of its own, under the current span; never
    /// waits for Spark.
    ///
    /// # Errors
    ///
    /// As [`start_under`](Self::start_under).
    pub fn start(self) -> Result<SparkMonitorGuard, StartError> {
        self.start_under(tracing::Span::current())
    }

    /// Starts polling, with job spans under `parent`.
    ///
    /// # Errors
    ///
    /// [`StartError::InvalidUrl`] when the URL is not an `http://` URL with
    /// a host (and no query, fragment or space), [`StartError::Client`]
    /// when the HTTP client cannot be built, and [`StartError::Thread`]
    /// when the monitor's thread cannot be started. Spark being down is
    /// not an error: the monitor keeps polling.
    pub fn start_under(self, parent: tracing::Span) -> Result<SparkMonitorGuard, StartError> {
        let api = api_base(&self.url)?;
        Collector::spawn(Arc::new(self), api, parent)
    }

    /// Starts polling on a thread of its own, under the current span,
    /// awaiting the thread's readiness without blocking the executor (for
    /// async code; works on any executor).
    ///
    /// ```no_run
    /// use pipeline_telemetry_spark::SparkMonitor;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let monitor = SparkMonitor::new("http://127.0.0.1:4040")
    ///     .start_async()
    ///     .await?;
    /// // ... the Spark work ...
    /// let stats = monitor.stop_async().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`start_under`](Self::start_under).
    pub async fn start_async(self) -> Result<SparkMonitorGuard, StartError> {
        self.start_under_async(tracing::Span::current()).await
    }

    /// Starts polling, with job spans under `parent`, awaiting the
    /// thread's readiness without blocking the executor.
    ///
    /// # Errors
    ///
    /// As [`start_under`](Self::start_under).
    pub async fn start_under_async(
        self,
        parent: tracing::Span,
    ) -> Result<SparkMonitorGuard, StartError> {
        let api = api_base(&self.url)?;
        Collector::spawn_async(Arc::new(self), api, parent).await
    }

    /// Runs `f` with the monitor attached: started before, stopped (with a
    /// final read, from the event log when the application ended with `f`
    /// and [`with_event_log_dir`](Self::with_event_log_dir) is set) after. When the monitor cannot start, that is logged
    /// and `f` runs anyway: monitoring never fails the stage.
    pub fn watch<T>(self, f: impl FnOnce() -> T) -> T {
        let guard = self.start().map_err(crate::guard::log_start_error).ok();
        let out = f();
        if let Some(g) = guard {
            let _ = g.stop();
        }
        out
    }

    /// Awaits `fut` with the monitor attached: started before, stopped
    /// (with a final read) after, both awaited without blocking the
    /// executor.
    pub async fn watch_async<F: std::future::Future>(self, fut: F) -> F::Output {
        let guard = self
            .start_async()
            .await
            .map_err(crate::guard::log_start_error)
            .ok();
        let out = fut.await;
        if let Some(g) = guard {
            let _ = g.stop_async().await;
        }
        out
    }
}
