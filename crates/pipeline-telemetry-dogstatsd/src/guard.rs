//! The guard that keeps an exporter running and flushes it on drop.

use std::time::Duration;

use crate::error::ShutdownError;
use crate::flusher;
use crate::stats::Stats;

/// How long dropping a guard waits for a flush in progress.
pub const DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the exporter running; dropping it flushes everything recorded so
/// far and stops the exporter.
#[must_use = "the exporter stops when this guard is dropped; bind it with `let _guard = ...` for as long as metrics should be sent"]
#[derive(Debug)]
pub struct DogStatsDGuard {
    stopped: bool,
}

impl DogStatsDGuard {
    pub(crate) fn new() -> Self {
        DogStatsDGuard { stopped: false }
    }

    /// Sends everything recorded so far, now, on this thread.
    pub fn flush(&self) {
        flusher::flush();
    }

    /// What the exporter sent and dropped so far.
    pub fn stats(&self) -> Stats {
        flusher::stats()
    }

    /// Flushes and stops, waiting at most `timeout` for a flush in progress.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::TimedOut`] when a flush in progress is still running
    /// after `timeout`; what it held may be lost.
    pub fn shutdown(mut self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stopped = true;
        flusher::stop(timeout)
    }
}

impl Drop for DogStatsDGuard {
    fn drop(&mut self) {
        if !self.stopped {
            if let Err(e) = flusher::stop(DROP_TIMEOUT) {
                tracing::warn!(target: "pipeline_telemetry_dogstatsd", error = %e, "metrics may be lost");
            }
        }
    }
}
