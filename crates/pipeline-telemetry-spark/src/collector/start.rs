//! Starting the monitor's thread: blocking until it is ready, or awaiting
//! that without blocking the executor.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use super::Collector;
use crate::client::Client;
use crate::emit::{self, JobNames};
use crate::error::StartError;
use crate::guard::{Shared, SparkMonitorGuard};
use crate::monitor::SparkMonitor;
use crate::tracker::JobTracker;

/// A monitor whose thread is starting: its guard once the thread is
/// ready.
struct Starting(SparkMonitorGuard);

impl Starting {
    /// The guard when the thread said it is ready (`None`: it ended
    /// without a word), else the thread's error (dropping the guard lets
    /// a thread that got that far end on its own).
    fn ready(self, said: Option<Result<(), StartError>>) -> Result<SparkMonitorGuard, StartError> {
        match said {
            Some(Ok(())) => Ok(self.0),
            Some(Err(e)) => Err(e),
            None => Err(StartError::Thread(std::io::Error::other(
                "the Spark monitor's thread ended while starting",
            ))),
        }
    }
}

impl Collector {
    /// Starts the monitor's thread and waits (blocking) until it is ready.
    pub(crate) fn spawn(
        cfg: Arc<SparkMonitor>,
        api: String,
        parent: tracing::Span,
    ) -> Result<SparkMonitorGuard, StartError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let starting = Self::start_thread(
            cfg,
            api,
            parent,
            Box::new(move |r| {
                let _ = ready_tx.send(r);
            }),
        )?;
        starting.ready(ready_rx.recv().ok())
    }

    /// Starts the monitor's thread and awaits its readiness without
    /// blocking the executor.
    pub(crate) async fn spawn_async(
        cfg: Arc<SparkMonitor>,
        api: String,
        parent: tracing::Span,
    ) -> Result<SparkMonitorGuard, StartError> {
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let starting = Self::start_thread(
            cfg,
            api,
            parent,
            Box::new(move |r| {
                let _ = ready_tx.send(r);
            }),
        )?;
        starting.ready(ready_rx.await.ok())
    }

    /// Starts the monitor's thread, which calls `ready` once its HTTP
    /// client is built (or could not be).
    fn start_thread(
        cfg: Arc<SparkMonitor>,
        api: String,
        parent: tracing::Span,
        ready: Box<dyn FnOnce(Result<(), StartError>) + Send>,
    ) -> Result<Starting, StartError> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (done_async_tx, done_async_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::new(Shared::default());
        let stop_timeout = cfg.stop_timeout;
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("pt-spark-monitor".into())
            .spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    #[cfg(test)]
                    if let Some(gate) = &cfg.start_gate {
                        gate.wait();
                    }
                    let client = match Client::new(api, cfg.request_timeout) {
                        Ok(c) => c,
                        Err(e) => {
                            ready(Err(e));
                            return;
                        }
                    };
                    ready(Ok(()));
                    let names = JobNames::new(cfg.naming, cfg.max_job_names, &emit::JOB_NAMES);
                    Collector {
                        cfg,
                        client,
                        parent,
                        shared: thread_shared,
                        app: None,
                        tracker: JobTracker::default(),
                        names,
                        started: Instant::now(),
                        started_at: std::time::SystemTime::now(),
                        reached: false,
                        failures: 0,
                        outage_reported: false,
                    }
                    .run(&stop_rx);
                });
                let _ = done_tx.send(());
                let _ = done_async_tx.send(());
            })
            .map_err(StartError::Thread)?;
        Ok(Starting(SparkMonitorGuard {
            stop: Some(stop_tx),
            done: done_rx,
            done_async: Some(done_async_rx),
            thread: Some(thread),
            shared,
            stop_timeout,
        }))
    }
}
