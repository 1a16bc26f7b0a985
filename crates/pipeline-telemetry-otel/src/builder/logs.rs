//! [`OtelBuilder`]'s log line settings: format, writer, filter.

use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

use super::OtelBuilder;
use crate::config::LogFormat;

impl OtelBuilder {
    /// Human-readable or JSON log lines. Default: [`LogFormat::Human`].
    /// Environment: [`PIPELINE_TELEMETRY_LOG_FORMAT`](pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_LOG_FORMAT).
    pub fn with_log_format(mut self, format: LogFormat) -> Self {
        self.log_format = format;
        self
    }

    /// Where log lines are written (stdout by default). Anything that is a
    /// [`MakeWriter`], e.g. `std::io::stderr` or a closure. No environment
    /// variable.
    pub fn with_log_writer<W>(mut self, writer: W) -> Self
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.log_writer = Some(BoxMakeWriter::new(writer));
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
