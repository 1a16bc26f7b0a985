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

    /// Sends everything recorded so far, now, on this thread, to the
    /// Agent's address as last resolved (this thread never resolves a
    /// name: before the first resolution, the flusher thread sends for it).
    /// When another thread is in the middle of a send (e.g. resolving the
    /// Agent's name), this waits at most 1 s for it, then returns and
    /// leaves its datagrams queued for that thread to send. In a process
    /// forked (without exec) while the exporter ran, this does nothing.
    pub fn flush(&self) {
        flusher::flush();
    }

    /// What the exporter sent and dropped so far; never waits on a send in
    /// progress (datagrams still being sent are not counted yet). Empty in
    /// a forked child.
    pub fn stats(&self) -> Stats {
        flusher::stats()
    }

    /// Flushes and stops, waiting at most `timeout` (`Duration::MAX`: without
    /// end) for a send in progress on another thread. A flush being encoded
    /// on the flusher's thread (milliseconds, no I/O) is waited for up to
    /// 1 s whatever the timeout, so that the final flush is never skipped.
    /// In a forked child, stops nothing and returns `Ok`.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::TimedOut`] when a send in progress on another thread
    /// is still running after `timeout`; that thread sends what this flush
    /// queued if it ever finishes, else it is lost. Also when the flusher's
    /// lock stays held past 1 s and `timeout` (the exporter then runs on).
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
