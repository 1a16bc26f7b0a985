//! [`SparkMonitorGuard`]: stops the monitor (after a final read) on request
//! or on drop, with a bounded wait; and what the monitor did so far.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{StartError, StopError};

/// What a monitor did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorStats {
    /// Polls that read the jobs and executors.
    pub polls: u64,
    /// Polls that failed (unreachable, HTTP error, not a JSON list, ...).
    pub failed_polls: u64,
    /// Finished jobs reported (`spark.job.duration` and a span).
    pub jobs_reported: u64,
    /// Finished jobs without submission or completion time (not reported).
    pub jobs_without_times: u64,
    /// List elements that did not parse and were skipped.
    pub malformed_elements: u64,
    /// Job ids remembered to avoid reporting a job twice (bounded by what
    /// the API lists).
    pub tracked_jobs: u64,
    /// Active executors at the last poll, the driver excluded.
    pub executors_active: Option<u64>,
    /// The application watched, once found.
    pub app_id: Option<String>,
    /// Outages reported (one log line and one count each).
    pub outages_reported: u64,
    /// Final reads made from the application's event log, its REST API
    /// being gone (see
    /// [`with_event_log_dir`](crate::SparkMonitor::with_event_log_dir)).
    pub event_log_reads: u64,
    /// Final reads that found the application's event log compressed
    /// (`spark.eventLog.compress=true`, Spark 4.0's default), which the
    /// monitor cannot read: its jobs were not reported.
    pub event_log_unreadable: u64,
}

/// The stats, shared between the guard and the monitor's thread.
#[derive(Debug, Default)]
pub(crate) struct Shared(Mutex<MonitorStats>);

impl Shared {
    pub(crate) fn update(&self, f: impl FnOnce(&mut MonitorStats)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(crate) fn get(&self) -> MonitorStats {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A running [`SparkMonitor`](crate::SparkMonitor). Stopping it does a
/// final read of the API, reports what finished since the last poll, and
/// ends the thread: [`stop`](Self::stop) waits for that at most the stop
/// timeout, [`stop_async`](Self::stop_async) awaits it. Dropping it never
/// waits, in async code or not: the thread is told to stop, does its final
/// read and ends on its own (so a process that exits right away may end
/// before that read: stop it for a clean end).
/// Keep it alive for as long as the Spark work runs; stop it before the
/// application's UI goes away (e.g. before `SparkSession.stop()`), or
/// watch a history server, so that the final read sees every job.
#[must_use = "dropping the guard stops the monitor at once: bind it, `let monitor = ...;`"]
#[derive(Debug)]
pub struct SparkMonitorGuard {
    pub(crate) stop: Option<Sender<()>>,
    pub(crate) done: Receiver<()>,
    pub(crate) done_async: Option<tokio::sync::oneshot::Receiver<()>>,
    pub(crate) thread: Option<JoinHandle<()>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop_timeout: Duration,
}

impl SparkMonitorGuard {
    /// What the monitor did so far.
    pub fn stats(&self) -> MonitorStats {
        self.shared.get()
    }

    /// Does a final read and stops, blocking at most the stop timeout. In
    /// async code, prefer [`stop_async`](Self::stop_async).
    ///
    /// # Errors
    ///
    /// [`StopError::Timeout`] when the final read does not finish within
    /// the stop timeout (the thread ends on its own later), and
    /// [`StopError::Panicked`] when the monitor's thread panicked.
    pub fn stop(mut self) -> Result<MonitorStats, StopError> {
        self.stop_inner()
    }

    /// Does a final read and stops, without blocking the executor (works on
    /// any executor: it awaits the thread's signal).
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop).
    pub async fn stop_async(mut self) -> Result<MonitorStats, StopError> {
        self.stop.take();
        let done = self.done_async.take();
        let result = match done {
            Some(rx) => rx.await.map_err(|_| StopError::Panicked),
            None => Ok(()),
        };
        // The thread has sent its signal and is ending: not joined here.
        self.thread.take();
        result.map(|()| self.shared.get())
    }

    fn stop_inner(&mut self) -> Result<MonitorStats, StopError> {
        if self.stop.take().is_none() {
            return Ok(self.shared.get());
        }
        match self.done.recv_timeout(self.stop_timeout) {
            Ok(()) => {
                if let Some(t) = self.thread.take() {
                    t.join().map_err(|_| StopError::Panicked)?;
                }
                Ok(self.shared.get())
            }
            Err(RecvTimeoutError::Timeout) => Err(StopError::Timeout(self.stop_timeout)),
            Err(RecvTimeoutError::Disconnected) => {
                self.thread.take();
                Err(StopError::Panicked)
            }
        }
    }
}

impl Drop for SparkMonitorGuard {
    /// Tells the thread to stop (it does its final read and ends on its
    /// own) and returns at once: never blocks, on a runtime's thread or
    /// any other.
    fn drop(&mut self) {
        self.stop.take();
        // Detached: not joined.
        self.thread.take();
    }
}

pub(crate) fn log_start_error(e: StartError) {
    tracing::warn!(
        error = %e,
        source = std::error::Error::source(&e).map(|s| s.to_string()),
        "the Spark monitor could not start; the stage runs unmonitored"
    );
}
