//! [`OtelGuard`]: flushes and stops the export threads, on drop or on
//! request, with a bounded wait.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLoggerProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::stage_spans::FinishedSpan;

use crate::batch::{Batcher, SignalStats};
use crate::config::TracesExport;
use crate::error::ShutdownError;
use crate::log_writer::{self, LogWriterHandle};
use crate::time::deadline_after;

/// Counters of what was exported, dropped (queue full) and lost (failed
/// export) so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportStats {
    /// Finished spans.
    pub spans: SignalStats,
    /// OTLP log records (zero unless OTLP log export is on).
    pub logs: SignalStats,
    /// Log lines through the queued writer (stdout by default; zero with a
    /// writer given to `with_log_writer`): `exported` lines written,
    /// `dropped` when the queue was full (the output did not keep up),
    /// `failed` when the write failed.
    pub log_lines: SignalStats,
}

/// Keeps traces and logs running; dropping it flushes what is queued and
/// stops the export threads, waiting at most the shutdown timeout.
///
/// ```
/// use std::time::Duration;
/// use pipeline_telemetry_otel::{OtelBuilder, TracesExport};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let (layer, guard) = OtelBuilder::new("etl")
///     .with_traces(TracesExport::Off)
///     .build_layer::<tracing_subscriber::Registry>()?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
/// guard.shutdown(Duration::from_secs(2))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the guard at once stops exporting; bind it: `let _guard = ...;`"]
#[derive(Debug)]
pub struct OtelGuard {
    pub(crate) tracer_provider: Option<SdkTracerProvider>,
    pub(crate) logger_provider: Option<SdkLoggerProvider>,
    pub(crate) spans: Option<Arc<Batcher<FinishedSpan>>>,
    pub(crate) logs: Option<Arc<Batcher<(SdkLogRecord, InstrumentationScope)>>>,
    pub(crate) log_writer: Option<LogWriterHandle>,
    pub(crate) traces: TracesExport,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) done: bool,
    /// The process that started the export threads: a process forked from
    /// it without exec has none, and its guard waits for nothing.
    pub(crate) pid: u32,
    /// Where spans go, as printed at a global install.
    pub(crate) destination: Option<String>,
}

impl OtelGuard {
    /// Exports everything queued so far and writes the queued log lines,
    /// waiting at most `timeout` for each. Recording goes on. Any
    /// `timeout`, `Duration::MAX` included (no limit).
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] when a signal's queue is not exported
    /// within `timeout`, [`ShutdownError::Export`] when an export fails
    /// (e.g. the Agent is down), and [`ShutdownError::AlreadyShutDown`] when
    /// an export thread is gone. The first error wins; both signals are
    /// flushed regardless.
    ///
    /// In a process forked without exec (no export threads there) it
    /// returns `Ok` at once: the parent exports what it queued, and the
    /// child's log lines are written directly.
    pub fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.forked() {
            return Ok(());
        }
        let mut result = Ok(());
        if let Some(b) = &self.spans {
            result = result.and(b.flush(timeout));
        }
        if let Some(b) = &self.logs {
            result = result.and(b.flush(timeout));
        }
        if let Some(w) = &self.log_writer {
            result = result.and(w.flush(timeout));
        }
        result
    }

    /// Flushes and stops exporting, waiting at most `timeout` in total (any
    /// `timeout`, `Duration::MAX` included). Spans that end afterwards are
    /// not exported; log lines logged afterwards are written on the logging
    /// thread. In a process forked without exec it returns `Ok` at once
    /// (see [`flush`](Self::flush)).
    ///
    /// # Errors
    ///
    /// As [`flush`](Self::flush): what was still queued may be lost.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    /// What happened to spans and log records so far.
    pub fn stats(&self) -> ExportStats {
        ExportStats {
            spans: self.spans.as_ref().map(|b| b.stats()).unwrap_or_default(),
            logs: self.logs.as_ref().map(|b| b.stats()).unwrap_or_default(),
            log_lines: self
                .log_writer
                .as_ref()
                .map(LogWriterHandle::stats)
                .unwrap_or_default(),
        }
    }

    /// Where finished spans go.
    pub fn traces_export(&self) -> TracesExport {
        self.traces
    }

    /// The tracer provider, for code that uses the OpenTelemetry API directly
    /// (`None` when traces are off).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// Whether this is a process forked (without exec) from the one that
    /// started the export threads.
    fn forked(&self) -> bool {
        self.pid != std::process::id()
    }

    fn stop(&mut self, timeout: Duration) -> Result<(), ShutdownError> {
        // A forked child has no thread to wait for (nor to stop).
        if std::mem::replace(&mut self.done, true) || self.forked() {
            return Ok(());
        }
        let deadline = deadline_after(timeout);
        // Both threads work on their final export at the same time.
        let span_ack = self.spans.as_ref().and_then(|b| b.begin_shutdown());
        let log_ack = self.logs.as_ref().and_then(|b| b.begin_shutdown());
        let line_ack = self
            .log_writer
            .as_ref()
            .and_then(LogWriterHandle::begin_shutdown);
        let mut result = Ok(());
        if let (Some(b), Some(ack)) = (&self.spans, &span_ack) {
            result = result.and(b.wait(ack, deadline, timeout));
        }
        if let (Some(b), Some(ack)) = (&self.logs, &log_ack) {
            result = result.and(b.wait(ack, deadline, timeout));
        }
        if let Some(ack) = &line_ack {
            result = result.and(log_writer::wait(ack, deadline, timeout));
        }
        // The processors are stopped already; this marks the providers shut
        // down so that later spans and records are not even created.
        if let Some(p) = &self.tracer_provider {
            let _ = p.shutdown_with_timeout(Duration::ZERO);
        }
        if let Some(p) = &self.logger_provider {
            let _ = p.shutdown_with_timeout(Duration::ZERO);
        }
        result
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        let timeout = self.shutdown_timeout;
        if let Err(ShutdownError::Timeout(_)) = self.stop(timeout) {
            eprintln!(
                "pipeline-telemetry: the final export did not finish within {timeout:?}; queued telemetry may be lost"
            );
        }
    }
}
