//! The background exporter: a bounded queue in front of one thread that
//! batches items and hands them to an [`ExportSink`].
//!
//! The application side only pushes into a lock-free bounded queue; a full
//! queue drops the item and counts it. It wakes the thread only when a
//! whole batch is waiting (once, until the thread has taken it): the
//! thread otherwise sleeps until its delay ends, so a finished span costs
//! the application no system call. Flush and shutdown are requests to the
//! thread, answered on a channel the caller waits on with a deadline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, RecvTimeoutError, Sender};
use crossbeam_queue::ArrayQueue;

use crate::error::{InstallError, ShutdownError};
use crate::time::{deadline_after, recv_until};

/// Something that exports batches, owned by the export thread.
pub(crate) trait ExportSink: Send + 'static {
    /// What is queued: a finished span, a log record, ...
    type Item: Send + 'static;
    /// Exports one batch, blocking the export thread; bounded by the sink's
    /// own timeout.
    fn export(&mut self, batch: Vec<Self::Item>) -> Result<(), String>;
    /// Releases connections before the thread ends.
    fn shutdown(&mut self) {}
}

/// Queue and batch sizes of one export thread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchConfig {
    pub(crate) queue_size: usize,
    pub(crate) max_batch_size: usize,
    pub(crate) delay: Duration,
}

/// What happened to the items of one signal so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalStats {
    /// Items accepted by the receiver.
    pub exported: u64,
    /// Items dropped because the queue was full or export had stopped.
    pub dropped: u64,
    /// Items lost in failed export requests (receiver down, timeout, ...).
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    warned: AtomicBool,
}

enum Control {
    Flush(Sender<Result<(), String>>),
    Shutdown(Sender<Result<(), String>>),
}

/// The application's handle on one export thread.
#[derive(Debug)]
pub(crate) struct Batcher<T> {
    signal: &'static str,
    queue: Arc<Queue<T>>,
    control: Sender<Control>,
    counters: Arc<Counters>,
    stopped: AtomicBool,
}

/// The items waiting for the thread, and its wake-up call.
#[derive(Debug)]
struct Queue<T> {
    items: ArrayQueue<T>,
    /// A whole batch is waiting: the thread is woken through `wake` once,
    /// until it clears this flag.
    batch_ready: AtomicBool,
    wake: Sender<()>,
    /// How many items make a batch.
    batch: usize,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flush(_) => "Flush",
            Self::Shutdown(_) => "Shutdown",
        })
    }
}

impl<T: Send + 'static> Batcher<T> {
    /// Starts the export thread. `make_sink` runs on that thread (so that a
    /// runtime the sink needs lives there); its error is returned here.
    pub(crate) fn spawn<S, F>(
        signal: &'static str,
        config: BatchConfig,
        make_sink: F,
    ) -> Result<Self, InstallError>
    where
        S: ExportSink<Item = T>,
        F: FnOnce() -> Result<S, InstallError> + Send + 'static,
    {
        let (wake_tx, wake_rx) = bounded(1);
        let queue = Arc::new(Queue {
            items: ArrayQueue::new(config.queue_size.max(1)),
            batch_ready: AtomicBool::new(false),
            wake: wake_tx,
            batch: config.max_batch_size.max(1),
        });
        let worker_queue = Arc::clone(&queue);
        let (control_tx, control_rx) = unbounded();
        let (ready_tx, ready_rx) = bounded::<Result<(), InstallError>>(1);
        let counters = Arc::new(Counters::default());
        let worker_counters = Arc::clone(&counters);
        thread::Builder::new()
            .name(format!("pt-otel-{signal}"))
            .spawn(move || {
                // Telemetry produced while exporting (by the HTTP or gRPC
                // client) must not be fed back into the export queues.
                let _suppressed = opentelemetry::Context::enter_telemetry_suppressed_scope();
                let _no_subscriber =
                    tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
                match make_sink() {
                    Ok(sink) => {
                        let _ = ready_tx.send(Ok(()));
                        Worker {
                            sink,
                            signal,
                            config,
                            counters: worker_counters,
                        }
                        .run(&worker_queue, &wake_rx, &control_rx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|source| InstallError::Worker { signal, source })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                signal,
                queue,
                control: control_tx,
                counters,
                stopped: AtomicBool::new(false),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(InstallError::Worker {
                signal,
                source: std::io::Error::other("the export thread stopped while starting"),
            }),
        }
    }

    /// Queues one item without blocking; counts it as dropped when the queue
    /// is full or export has stopped.
    pub(crate) fn push(&self, item: T) {
        if self.stopped.load(Ordering::Relaxed) || self.queue.items.push(item).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Past a whole batch, wake the thread once; it clears the flag
        // before it takes the batches. A push that races with that
        // clearing waits at worst for the delay, as a partial batch does.
        let q = &*self.queue;
        if q.items.len() >= q.batch
            && !q.batch_ready.load(Ordering::Relaxed)
            && !q.batch_ready.swap(true, Ordering::AcqRel)
        {
            let _ = q.wake.try_send(());
        }
    }

    /// Counts an item as dropped without queueing it, when the queue is
    /// full: the caller then need not build it. `false` when there is room.
    pub(crate) fn dropped_if_full(&self) -> bool {
        let full = self.queue.items.is_full() || self.stopped.load(Ordering::Relaxed);
        if full {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        full
    }

    /// Exports everything queued so far, waiting at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.stopped.load(Ordering::Relaxed) {
            return Err(ShutdownError::AlreadyShutDown(self.signal));
        }
        let (ack_tx, ack_rx) = bounded(1);
        self.control
            .send(Control::Flush(ack_tx))
            .map_err(|_| ShutdownError::AlreadyShutDown(self.signal))?;
        self.wait(&ack_rx, deadline_after(timeout), timeout)
    }

    /// Asks the thread to export what is queued and stop; returns the channel
    /// its answer arrives on, or `None` if it was already asked.
    pub(crate) fn begin_shutdown(&self) -> Option<Receiver<Result<(), String>>> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return None;
        }
        let (ack_tx, ack_rx) = bounded(1);
        self.control.send(Control::Shutdown(ack_tx)).ok()?;
        Some(ack_rx)
    }

    /// Waits for an answer from [`begin_shutdown`](Self::begin_shutdown) or a
    /// flush until `deadline` (`None`: no limit; `limit` is the wait as
    /// asked, for the error).
    pub(crate) fn wait(
        &self,
        ack: &Receiver<Result<(), String>>,
        deadline: Option<Instant>,
        limit: Duration,
    ) -> Result<(), ShutdownError> {
        match recv_until(ack, deadline) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(ShutdownError::Export {
                signal: self.signal,
                message,
            }),
            Err(RecvTimeoutError::Timeout) => Err(ShutdownError::Timeout(limit)),
            Err(RecvTimeoutError::Disconnected) => Err(ShutdownError::AlreadyShutDown(self.signal)),
        }
    }

    /// Asks the thread to stop and waits until `deadline`.
    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        match self.begin_shutdown() {
            Some(ack) => self.wait(&ack, deadline_after(timeout), timeout),
            None => Ok(()),
        }
    }

    pub(crate) fn stats(&self) -> SignalStats {
        SignalStats {
            exported: self.counters.exported.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
        }
    }
}

struct Worker<S: ExportSink> {
    sink: S,
    signal: &'static str,
    config: BatchConfig,
    counters: Arc<Counters>,
}

impl<S: ExportSink> Worker<S> {
    fn run(mut self, queue: &Queue<S::Item>, wake: &Receiver<()>, control: &Receiver<Control>) {
        // `None`: a delay too long for an `Instant` (`Duration::MAX`), so
        // batches go out when full or flushed only.
        // At least 1 ms: a zero delay must not spin.
        let delay = self.config.delay.max(Duration::from_millis(1));
        let mut deadline = deadline_after(delay);
        loop {
            let timeout = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            select! {
                recv(wake) -> msg => match msg {
                    Ok(()) => {
                        queue.batch_ready.store(false, Ordering::Release);
                        let _ = self.export_batches(queue, true);
                    }
                    Err(_) => break,
                },
                recv(control) -> msg => match msg {
                    Ok(Control::Flush(ack)) => {
                        let result = self.export_batches(queue, false);
                        let _ = ack.send(result);
                    }
                    Ok(Control::Shutdown(ack)) => {
                        let result = self.export_batches(queue, false);
                        self.sink.shutdown();
                        let _ = ack.send(result);
                        return;
                    }
                    Err(_) => break,
                },
                default(timeout) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let _ = self.export_batches(queue, false);
                deadline = deadline_after(delay);
            }
        }
        // The application side is gone: export what is left and stop.
        let _ = self.export_batches(queue, false);
        self.sink.shutdown();
    }

    /// Exports what is queued in batches (with `whole_only`, only whole
    /// batches: the rest waits for the delay); returns the last failure.
    fn export_batches(&mut self, queue: &Queue<S::Item>, whole_only: bool) -> Result<(), String> {
        let mut result = Ok(());
        loop {
            let waiting = queue.items.len();
            if waiting == 0 || (whole_only && waiting < queue.batch) {
                return result;
            }
            let n = waiting.min(queue.batch);
            let batch: Vec<S::Item> = (0..n).map_while(|_| queue.items.pop()).collect();
            if let Err(e) = self.export(batch) {
                result = Err(e);
            }
        }
    }

    fn export(&mut self, batch: Vec<S::Item>) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let n = batch.len() as u64;
        match self.sink.export(batch) {
            Ok(()) => {
                self.counters.exported.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.counters.failed.fetch_add(n, Ordering::Relaxed);
                if !self.counters.warned.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "pipeline-telemetry: exporting {} failed: {e} (further failures are only counted)",
                        self.signal
                    );
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
