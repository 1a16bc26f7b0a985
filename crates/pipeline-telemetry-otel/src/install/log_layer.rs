//! The log line layer of [`OtelBuilder`]: JSON or human-readable lines, to
//! the given writer or to stdout through the queued writer thread.

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::registry::LookupSpan;

use super::entry::WithoutEntry;
use super::BoxedLayer;
use crate::builder::OtelBuilder;
use crate::config::LogFormat;
use crate::directives::Directives;
use crate::error::InstallError;
use crate::fields::FieldsLayer;
use crate::guard::OtelGuard;
use crate::json_log::JsonLogLayer;
use crate::log_filter::EventsOnly;
use crate::log_writer::{self, QueueConfig};
use crate::problem::Problems;
use crate::resolve::Resolved;

impl OtelBuilder {
    /// The log line layer (JSON or human), writing to the given writer, or
    /// to stdout through the queued writer thread.
    pub(super) fn log_layer<S>(
        &mut self,
        resolved: &Resolved,
        events: Directives,
        problems: &mut Problems,
        guard: &mut OtelGuard,
    ) -> Result<BoxedLayer<S>, InstallError>
    where
        S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync + 'static,
    {
        let given = self.log_writer.take();
        let ansi = given.is_none()
            && std::io::stdout().is_terminal()
            && std::env::var_os(pipeline_telemetry_catalogue::env::NO_COLOR).is_none();
        let writer = match given {
            Some(w) => w,
            None => {
                let config = QueueConfig {
                    lines: self.log_queue_lines,
                    bytes: log_writer::QUEUE_BYTES,
                    lossless: self.lossless_logs,
                    on_drop: self.log_drop_hook.take(),
                };
                match log_writer::spawn_stdout(config) {
                    Ok((writer, handle)) => {
                        guard.log_writer = Some(handle);
                        BoxMakeWriter::new(writer)
                    }
                    Err(source) => {
                        problems.invalid(
                            InstallError::Worker {
                                signal: "log lines",
                                source,
                            },
                            "log lines are written on the logging thread",
                        )?;
                        BoxMakeWriter::new(std::io::stdout)
                    }
                }
            }
        };
        // The pipeline fields of spans (for log lines and baggage) are kept
        // by a layer under the log layer's own filter, which lets every
        // span up to INFO through: one per-layer filter for both.
        let reads_spans = events.reads_spans();
        let layer: BoxedLayer<S> = match self.log_format {
            LogFormat::Json => Box::new(
                FieldsLayer
                    .and_then(JsonLogLayer::new(resolved.identity.clone(), writer))
                    .with_filter(EventsOnly::new(events)),
            ),
            LogFormat::Human => Box::new(
                FieldsLayer
                    .and_then(
                        tracing_subscriber::fmt::layer()
                            .with_writer(writer)
                            .with_ansi(ansi),
                    )
                    .with_filter(EventsOnly::new(events)),
            ),
        };
        Ok(if reads_spans {
            layer
        } else {
            Box::new(WithoutEntry::new(layer, true))
        })
    }
}
