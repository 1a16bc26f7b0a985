//! The guard returned by `init()`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use pipeline_telemetry_dogstatsd::{self as dogstatsd, DogStatsDGuard};

use crate::init::ACTIVE;

/// The longest a flush of spans and logs waits.
#[cfg(feature = "traces")]
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest wait [`TelemetryGuard::shutdown`] hands the DogStatsD
/// exporter: a longer one (`Duration::MAX`) is taken as this, which is as
/// good as no limit and is a deadline every platform's clock can hold.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Keeps telemetry running; dropping it flushes everything recorded so far
/// (bounded wait) and stops the exporters.
#[must_use = "telemetry stops when this guard is dropped; keep it alive with `let _telemetry = pipeline_telemetry::init()?;`"]
#[derive(Debug)]
pub struct TelemetryGuard {
    pub(crate) metrics: Option<DogStatsDGuard>,
    #[cfg(feature = "traces")]
    pub(crate) otel: Option<pipeline_telemetry_otel::OtelGuard>,
}

impl TelemetryGuard {
    /// Sends everything recorded so far, now (spans and logs with a
    /// bounded wait). Call it before an exit that skips destructors
    /// (`std::process::exit`, a signal handler that ends the process):
    /// what was recorded since the last flush is otherwise lost.
    pub fn flush(&self) {
        #[cfg(feature = "traces")]
        if let Some(o) = &self.otel {
            let _ = o.flush(SHUTDOWN_TIMEOUT);
        }
        if let Some(m) = &self.metrics {
            m.flush();
        }
    }

    /// What the metrics exporter sent and dropped so far (datagrams and
    /// bytes sent, samples dropped, send errors...): the same counters the
    /// client telemetry reports as `datadog.dogstatsd.client.*`.
    ///
    /// ```
    /// use pipeline_telemetry::{MetricsTarget, TelemetryBuilder};
    /// use pipeline_telemetry::testing::MemorySink;
    ///
    /// let telemetry = TelemetryBuilder::from_env()
    ///     .with_metrics_target(MetricsTarget::Memory(MemorySink::new()))
    ///     .without_otel()
    ///     .quiet()
    ///     .init()?;
    /// telemetry.flush();
    /// assert_eq!(telemetry.stats().samples_dropped, 0);
    /// # Ok::<(), pipeline_telemetry::InitError>(())
    /// ```
    pub fn stats(&self) -> dogstatsd::Stats {
        self.metrics
            .as_ref()
            .map(DogStatsDGuard::stats)
            .unwrap_or_default()
    }

    /// The former name of [`stats`](Self::stats).
    #[deprecated(since = "0.1.0", note = "use `stats()`")]
    pub fn metrics_stats(&self) -> dogstatsd::Stats {
        self.stats()
    }

    /// The traces and logs exporter's guard, when the `otlp` feature is on
    /// and tracing was set up.
    #[cfg(feature = "traces")]
    pub fn otel(&self) -> Option<&pipeline_telemetry_otel::OtelGuard> {
        self.otel.as_ref()
    }

    /// Flushes and stops, waiting at most `timeout` for each exporter. Any
    /// `timeout`, `Duration::MAX` included: a wait longer than a year is
    /// taken as a year (as good as no limit), never a panic.
    ///
    /// Both exporters are always shut down; the error says which of them
    /// did not finish cleanly.
    ///
    /// # Errors
    /// [`ShutdownError`](crate::ShutdownError) when the DogStatsD flusher,
    /// the OTLP exporter, or both did not finish cleanly within `timeout`.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), crate::ShutdownError> {
        #[cfg(feature = "traces")]
        let otlp = match self.otel.take() {
            Some(o) => o.shutdown(timeout),
            None => Ok(()),
        };
        let metrics = match self.metrics.take() {
            Some(m) => m.shutdown(timeout.min(LONGEST_WAIT)),
            None => Ok(()),
        };
        ACTIVE.store(false, Ordering::Release);
        #[cfg(feature = "traces")]
        return match (metrics, otlp) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(m), Ok(())) => Err(crate::ShutdownError::Metrics(m)),
            (Ok(()), Err(o)) => Err(crate::ShutdownError::Otlp(o)),
            (Err(metrics), Err(otlp)) => Err(crate::ShutdownError::Both { metrics, otlp }),
        };
        #[cfg(not(feature = "traces"))]
        metrics.map_err(crate::ShutdownError::Metrics)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        #[cfg(feature = "traces")]
        drop(self.otel.take());
        if let Some(m) = self.metrics.take() {
            drop(m);
            ACTIVE.store(false, Ordering::Release);
        }
    }
}
