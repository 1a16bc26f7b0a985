//! [`OtelBuilder`]'s log line settings: format, writer, filter, and what
//! happens when the output does not keep up.

use std::sync::Arc;

use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

use super::{OtelBuilder, MAX_LOG_QUEUE_LINES};
use crate::config::LogFormat;

impl OtelBuilder {
    /// Human-readable or JSON log lines. Default: [`LogFormat::Human`].
    /// Environment: [`PIPELINE_TELEMETRY_LOG_FORMAT`](pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_LOG_FORMAT).
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// Where log lines are written, instead of stdout. Anything that is a
    /// [`MakeWriter`], e.g. `std::io::stderr` or a closure. It is called on
    /// the logging thread, as given: a writer that can block should queue
    /// itself (the default stdout writer does, see
    /// [`with_lossless_logs`](Self::with_lossless_logs)). No environment
    /// variable.
    pub fn with_log_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(writer));
        self
    }

    /// How log lines reach stdout when it does not keep up (nobody reads
    /// it, a slow log collector). Default: `false`: lines are written by a
    /// background thread behind a bounded queue of
    /// [`with_log_queue_lines`](Self::with_log_queue_lines) lines; when the
    /// queue is full a line is dropped and counted
    /// ([`ExportStats::log_lines`](crate::ExportStats::log_lines), and the
    /// [drop hook](Self::with_log_drop_hook)), and the logging thread never
    /// waits. `true`: the logging thread waits for room in the queue
    /// instead, so no line is dropped, and a stalled output slows the
    /// application down. Either way the guard writes what is queued when it
    /// is flushed or shut down (a bounded wait), and lines logged after
    /// shutdown are written on the logging thread. Environment:
    /// [`PIPELINE_TELEMETRY_LOG_LOSSLESS`](pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_LOG_LOSSLESS).
    ///
    /// This is the default writer's behaviour; a writer given with
    /// [`with_log_writer`](Self::with_log_writer) is called as given.
    pub fn with_lossless_logs(mut self, lossless: bool) -> Self {
        self.lossless_logs = lossless;
        self
    }

    /// Bound of the log line queue in front of the stdout writer thread
    /// (see [`with_lossless_logs`](Self::with_lossless_logs)). Default:
    /// [`DEFAULT_LOG_QUEUE_LINES`](crate::DEFAULT_LOG_QUEUE_LINES); at most
    /// [`MAX_LOG_QUEUE_LINES`] (capped, and reported once at install); at
    /// least 1. No environment variable.
    pub fn with_log_queue_lines(mut self, lines: usize) -> Self {
        self.log_queue_lines = self.capped("with_log_queue_lines", lines, MAX_LOG_QUEUE_LINES);
        self
    }

    /// Called with the number of log lines dropped (1 per line), on the
    /// thread that logged them, when the log line queue is full: for a
    /// counter in the application's metrics (`pipeline_telemetry::init`
    /// counts them as `pipeline_telemetry.client.logs.dropped`). It must not
    /// block or log. Default: none. No environment variable.
    pub fn with_log_drop_hook(mut self, hook: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.log_drop_hook = Some(Arc::new(hook));
        self
    }

    /// Which log events are written, in `RUST_LOG` syntax. Spans are not
    /// affected. Default: `info`. Environment:
    /// [`RUST_LOG`](pipeline_telemetry_catalogue::env::RUST_LOG).
    pub fn with_log_filter(mut self, directives: impl Into<String>) -> Self {
        self.log_filter = Some(directives.into());
        self
    }
}
