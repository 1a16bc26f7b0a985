//! Log lines written off the caller's thread: a bounded queue in front of one
//! writer thread, as tracing-appender's non-blocking writer does
//! (`tracing-appender/src/non_blocking.rs`, `worker.rs`).
//!
//! The logging thread copies the formatted line into the queue and goes on;
//! when the queue is full (nobody reads stdout, a slow log collector), the
//! line is dropped and counted, never waited for. In lossless mode the
//! logging thread waits for room instead (tracing-appender's
//! `lossy(false)`): chosen, never the default.
//!
//! The writer thread writes whole lines only: each queued item is one
//! `write` call of the log layer, which formats a complete line first, and
//! it is written with one `write_all` under the writer's own lock, so lines
//! never interleave or tear. Several queued lines go out in one `write_all`
//! (up to [`BATCH_BYTES`]).
//!
//! Flush and shutdown are requests to the writer thread, answered on a
//! channel the caller waits on with a deadline. After shutdown, lines are
//! written directly on the caller's thread (nothing logged after the guard
//! is gone is lost, as before this writer existed).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, unbounded, Receiver, Sender, TrySendError};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

use crate::batch::SignalStats;
use crate::error::ShutdownError;
use crate::time::{deadline_after, recv_until};

/// The most bytes of queued lines written in one `write_all`.
pub(crate) const BATCH_BYTES: usize = 64 * 1024;

/// Called with the number of lines dropped, on the thread that logged them.
pub(crate) type DropHook = Arc<dyn Fn(u64) + Send + Sync + 'static>;

enum Control {
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    warned_failed: AtomicBool,
    warned_dropped: AtomicBool,
}

struct Shared {
    lossless: bool,
    stopped: AtomicBool,
    counters: Counters,
    inner: BoxMakeWriter,
    on_drop: Option<DropHook>,
}

impl Shared {
    /// Writes `line` on the caller's thread (after shutdown, or when the
    /// writer thread is gone).
    fn write_direct(&self, line: &[u8]) {
        let mut w = self.inner.make_writer();
        match w.write_all(line).and_then(|()| w.flush()) {
            Ok(()) => self.counters.written.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.counters.failed.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn enqueue(&self, data: &Sender<Vec<u8>>, line: &[u8]) {
        if self.stopped.load(Ordering::Acquire) {
            self.write_direct(line);
            return;
        }
        let sent = if self.lossless {
            data.send(line.to_vec()).map_err(|e| e.into_inner())
        } else {
            match data.try_send(line.to_vec()) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(_)) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    if let Some(hook) = &self.on_drop {
                        hook(1);
                    }
                    return;
                }
                Err(TrySendError::Disconnected(line)) => Err(line),
            }
        };
        if let Err(line) = sent {
            self.write_direct(&line);
        }
    }
}

/// The [`MakeWriter`] the log layer writes through.
#[derive(Clone)]
pub(crate) struct QueuedWriter {
    shared: Arc<Shared>,
    data: Sender<Vec<u8>>,
}

impl std::fmt::Debug for QueuedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueuedWriter")
            .field("lossless", &self.shared.lossless)
            .finish_non_exhaustive()
    }
}

/// One line's writer, handed out per event.
#[derive(Debug)]
pub(crate) struct LineWriter<'a> {
    writer: &'a QueuedWriter,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.shared.enqueue(&self.writer.data, buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.shared.enqueue(&self.writer.data, buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QueuedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { writer: self }
    }
}

/// The guard's handle on the writer thread.
#[derive(Clone)]
pub(crate) struct LogWriterHandle {
    shared: Arc<Shared>,
    control: Sender<Control>,
}

impl std::fmt::Debug for LogWriterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriterHandle")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Settings of the queued writer.
pub(crate) struct QueueConfig {
    pub(crate) lines: usize,
    pub(crate) lossless: bool,
    pub(crate) on_drop: Option<DropHook>,
}

/// Starts the writer thread in front of `inner`.
///
/// # Errors
/// The operating system's error when the thread cannot be started.
pub(crate) fn spawn(
    inner: BoxMakeWriter,
    config: QueueConfig,
) -> io::Result<(QueuedWriter, LogWriterHandle)> {
    let (data_tx, data_rx) = bounded::<Vec<u8>>(config.lines.max(1));
    let (control_tx, control_rx) = unbounded();
    let shared = Arc::new(Shared {
        lossless: config.lossless,
        stopped: AtomicBool::new(false),
        counters: Counters::default(),
        inner,
        on_drop: config.on_drop,
    });
    let worker = Arc::clone(&shared);
    thread::Builder::new()
        .name("pt-log-writer".to_owned())
        .spawn(move || {
            // Whatever the writing itself logs must not come back here.
            let _no_subscriber =
                tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            run(&worker, &data_rx, &control_rx);
        })?;
    Ok((
        QueuedWriter {
            shared: Arc::clone(&shared),
            data: data_tx,
        },
        LogWriterHandle {
            shared,
            control: control_tx,
        },
    ))
}

fn run(shared: &Shared, data: &Receiver<Vec<u8>>, control: &Receiver<Control>) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    // Once every writer is gone, only the guard's requests are left.
    let mut queue = data.clone();
    loop {
        select! {
            recv(queue) -> line => match line {
                Ok(line) => {
                    batch.extend_from_slice(&line);
                    let mut lines = 1;
                    // What is queued now, up to a batch; never an endless loop
                    // behind a fast producer.
                    while batch.len() < BATCH_BYTES {
                        match data.try_recv() {
                            Ok(line) => {
                                batch.extend_from_slice(&line);
                                lines += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    write_batch(shared, &mut batch, lines);
                }
                Err(_) => queue = crossbeam_channel::never(),
            },
            recv(control) -> msg => match msg {
                Ok(Control::Flush(ack)) => {
                    drain(shared, data, &mut batch);
                    let _ = ack.send(());
                }
                Ok(Control::Shutdown(ack)) => {
                    shared.stopped.store(true, Ordering::Release);
                    drain(shared, data, &mut batch);
                    let _ = ack.send(());
                    return;
                }
                Err(_) => {
                    // The guard is gone without a shutdown: lines go
                    // directly from now on; write what is queued.
                    shared.stopped.store(true, Ordering::Release);
                    drain(shared, data, &mut batch);
                    return;
                }
            },
        }
    }
}

/// Writes the lines queued when called (not those queued meanwhile: a busy
/// producer cannot keep a flush going forever).
fn drain(shared: &Shared, data: &Receiver<Vec<u8>>, batch: &mut Vec<u8>) {
    let mut left = data.len();
    while left > 0 {
        let mut lines = 0;
        while left > 0 && batch.len() < BATCH_BYTES {
            match data.try_recv() {
                Ok(line) => {
                    batch.extend_from_slice(&line);
                    lines += 1;
                    left -= 1;
                }
                Err(_) => left = 0,
            }
        }
        write_batch(shared, batch, lines);
    }
}

fn write_batch(shared: &Shared, batch: &mut Vec<u8>, lines: u64) {
    if lines == 0 {
        return;
    }
    let mut w = shared.inner.make_writer();
    let result = w.write_all(batch).and_then(|()| w.flush());
    batch.clear();
    if batch.capacity() > 4 * BATCH_BYTES {
        // One huge line must not keep its memory for good.
        batch.shrink_to(BATCH_BYTES);
    }
    let c = &shared.counters;
    match result {
        Ok(()) => {
            c.written.fetch_add(lines, Ordering::Relaxed);
            if c.dropped.load(Ordering::Relaxed) > 0
                && !c.warned_dropped.swap(true, Ordering::Relaxed)
            {
                eprintln!(
                    "pipeline-telemetry: log lines were dropped because the log output did not keep up \
                     (the queue was full); they are counted in the client telemetry. Set {}=true to \
                     wait instead of dropping.",
                    pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_LOG_LOSSLESS
                );
            }
        }
        Err(e) => {
            c.failed.fetch_add(lines, Ordering::Relaxed);
            if !c.warned_failed.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "pipeline-telemetry: writing log lines failed: {e} (further failures are only counted)"
                );
            }
        }
    }
}

impl LogWriterHandle {
    /// Writes everything queued so far, waiting at most `timeout`.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.shared.stopped.load(Ordering::Acquire) {
            return Ok(());
        }
        let (ack_tx, ack_rx) = bounded(1);
        if self.control.send(Control::Flush(ack_tx)).is_err() {
            return Err(ShutdownError::AlreadyShutDown("log lines"));
        }
        wait(&ack_rx, deadline_after(timeout), timeout)
    }

    /// Asks the thread to write what is queued and stop; from now on lines
    /// are written on the caller's thread. `None` if it was already asked.
    pub(crate) fn begin_shutdown(&self) -> Option<Receiver<()>> {
        if self.shared.stopped.swap(true, Ordering::AcqRel) {
            return None;
        }
        let (ack_tx, ack_rx) = bounded(1);
        self.control.send(Control::Shutdown(ack_tx)).ok()?;
        Some(ack_rx)
    }

    pub(crate) fn stats(&self) -> SignalStats {
        let c = &self.shared.counters;
        SignalStats {
            exported: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }
}

/// Waits for the writer thread's answer until `deadline` (`None`: no
/// limit); `limit` is the wait as asked, for the error.
pub(crate) fn wait(
    ack: &Receiver<()>,
    deadline: Option<Instant>,
    limit: Duration,
) -> Result<(), ShutdownError> {
    match recv_until(ack, deadline) {
        Ok(()) => Ok(()),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(ShutdownError::Timeout(limit)),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
            Err(ShutdownError::AlreadyShutDown("log lines"))
        }
    }
}

#[cfg(test)]
mod tests;
