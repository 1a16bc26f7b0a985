//! Log lines written off the caller's thread: a bounded queue in front of one
//! writer thread, as tracing-appender's non-blocking writer does
//! (`tracing-appender/src/non_blocking.rs`, `worker.rs`).
//!
//! The logging thread copies the formatted line into the queue and goes on;
//! when the queue is full (nobody reads stdout, a slow log collector), the
//! line is dropped and counted, never waited for (and never copied). The
//! queue is bounded twice: by lines and by bytes ([`QUEUE_BYTES`] by
//! default), so that long lines cannot pile up without limit. In lossless
//! mode the logging thread waits for room instead (tracing-appender's
//! `lossy(false)`), bounded by lines only: chosen, never the default.
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
//! is gone is lost, as before this writer existed). A line a thread was
//! queuing while the shutdown drained is written too: the writer thread
//! waits for every enqueue in progress before its last drain.
//!
//! A process forked without exec has no writer thread: there, every line
//! is written directly on the logging thread (the parent writes what it
//! queued).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender, TrySendError};
use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriter};

use crate::batch::SignalStats;
use crate::error::ShutdownError;
use crate::time::{deadline_after, recv_until};

/// The most bytes of queued lines written in one `write_all`.
pub(crate) const BATCH_BYTES: usize = 64 * 1024;
/// The most bytes of lines queued at once (besides the queue's line cap);
/// past it, lines are dropped and counted.
pub(crate) const QUEUE_BYTES: usize = 16 * 1024 * 1024;

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
    /// The fork generation the writer thread started in (a forked child,
    /// of a later generation, has no writer thread).
    generation: u32,
    max_bytes: usize,
    /// Bytes of the lines queued and not yet taken by the writer thread.
    queued_bytes: AtomicUsize,
    /// Enqueues in progress: the shutdown waits for them (see `finish`).
    enqueuing: AtomicUsize,
    stopped: AtomicBool,
    counters: Counters,
    inner: BoxMakeWriter,
    /// The file descriptor `inner` writes to when it is the process's
    /// standard output: a forked child writes its lines there with
    /// `write(2)`, taking no lock (std's stdout lock may have been held by
    /// another thread of the parent at the fork, and stays held in the
    /// child, which has no such thread).
    raw_fd: Option<i32>,
    on_drop: Option<DropHook>,
}

impl Shared {
    /// Writes `line` on the caller's thread (after shutdown, or when the
    /// writer thread is gone).
    fn write_direct(&self, line: &[u8]) {
        if let (Some(fd), true) = (self.raw_fd, self.forked()) {
            match write_fd(fd, line) {
                Ok(()) => self.counters.written.fetch_add(1, Ordering::Relaxed),
                Err(_) => self.counters.failed.fetch_add(1, Ordering::Relaxed),
            };
            return;
        }
        let mut w = self.inner.make_writer();
        match w.write_all(line).and_then(|()| w.flush()) {
            Ok(()) => self.counters.written.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.counters.failed.fetch_add(1, Ordering::Relaxed),
        };
    }

    fn enqueue(&self, data: &Sender<Vec<u8>>, line: &[u8]) {
        if self.forked() {
            self.write_direct(line);
            return;
        }
        // SeqCst pairs with `finish`: either the writer thread sees this
        // enqueue in progress and waits for it, or this sees `stopped`.
        self.enqueuing.fetch_add(1, Ordering::SeqCst);
        if self.stopped.load(Ordering::SeqCst) {
            self.enqueuing.fetch_sub(1, Ordering::SeqCst);
            self.write_direct(line);
            return;
        }
        let sent = if self.lossless {
            self.queued_bytes.fetch_add(line.len(), Ordering::Relaxed);
            data.send(line.to_vec()).map_err(|e| e.into_inner())
        } else {
            self.try_enqueue(data, line)
        };
        self.enqueuing.fetch_sub(1, Ordering::SeqCst);
        if let Err(line) = sent {
            self.queued_bytes.fetch_sub(line.len(), Ordering::Relaxed);
            self.write_direct(&line);
        }
    }

    /// Queues `line` when there is room (in lines and in bytes), else
    /// drops and counts it without copying it. `Err`: the writer thread is
    /// gone.
    fn try_enqueue(&self, data: &Sender<Vec<u8>>, line: &[u8]) -> Result<(), Vec<u8>> {
        let len = line.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        let over = before.saturating_add(len) > self.max_bytes && before > 0;
        if over || data.is_full() {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.note_dropped();
            return Ok(());
        }
        match data.try_send(line.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                self.note_dropped();
                Ok(())
            }
            Err(TrySendError::Disconnected(line)) => Err(line),
        }
    }

    fn note_dropped(&self) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(hook) = &self.on_drop {
            hook(1);
        }
    }

    /// Whether this process is a fork (without exec) of the one that
    /// started the writer thread: it has no writer thread.
    fn forked(&self) -> bool {
        crate::fork::forked_since(self.generation)
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

/// How long [`spawn`] waits for the writer thread to be set up.
const READY_WAIT: Duration = Duration::from_secs(5);

/// Settings of the queued writer.
pub(crate) struct QueueConfig {
    pub(crate) lines: usize,
    /// The most bytes queued at once (lossy mode); [`QUEUE_BYTES`] in use.
    pub(crate) bytes: usize,
    pub(crate) lossless: bool,
    pub(crate) on_drop: Option<DropHook>,
}

/// Starts the writer thread in front of `inner`.
///
/// # Errors
/// The operating system's error when the thread cannot be started.
#[cfg(test)]
pub(crate) fn spawn(
    inner: BoxMakeWriter,
    config: QueueConfig,
) -> io::Result<(QueuedWriter, LogWriterHandle)> {
    spawn_with(inner, config, None)
}

/// [`spawn`] in front of the process's standard output.
///
/// # Errors
/// The operating system's error when the thread cannot be started.
pub(crate) fn spawn_stdout(config: QueueConfig) -> io::Result<(QueuedWriter, LogWriterHandle)> {
    spawn_with(BoxMakeWriter::new(io::stdout), config, Some(1))
}

fn spawn_with(
    inner: BoxMakeWriter,
    config: QueueConfig,
    raw_fd: Option<i32>,
) -> io::Result<(QueuedWriter, LogWriterHandle)> {
    let (data_tx, data_rx) = bounded::<Vec<u8>>(config.lines.max(1));
    let (control_tx, control_rx) = unbounded();
    let shared = Arc::new(Shared {
        lossless: config.lossless,
        generation: crate::fork::generation(),
        max_bytes: config.bytes.max(1),
        queued_bytes: AtomicUsize::new(0),
        enqueuing: AtomicUsize::new(0),
        stopped: AtomicBool::new(false),
        counters: Counters::default(),
        inner,
        raw_fd,
        on_drop: config.on_drop,
    });
    let worker = Arc::clone(&shared);
    let (ready_tx, ready_rx) = bounded::<()>(1);
    thread::Builder::new()
        .name("pt-log-writer".to_owned())
        .spawn(move || {
            // Whatever the writing itself logs must not come back here.
            let _no_subscriber =
                tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            let _ = ready_tx.send(());
            worker::run(&worker, &data_rx, &control_rx);
        })?;
    // Setting the thread's default subscriber takes `tracing`'s global
    // dispatcher and callsite locks. Return only once that is done: a
    // process forked just after (a pre-fork worker) would otherwise copy
    // those locks held by a thread it does not have, and its first new
    // log callsite would wait on them forever. Bounded, in case the
    // thread is slow to be scheduled.
    let _ = ready_rx.recv_timeout(READY_WAIT);
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

impl LogWriterHandle {
    /// Writes everything queued so far, waiting at most `timeout`.
    /// In a forked child (no writer thread; lines are written directly)
    /// there is nothing to wait for.
    pub(crate) fn flush(&self, timeout: Duration) -> Result<(), ShutdownError> {
        if self.shared.stopped.load(Ordering::Acquire) || self.shared.forked() {
            return Ok(());
        }
        let (ack_tx, ack_rx) = bounded(1);
        if self.control.send(Control::Flush(ack_tx)).is_err() {
            return Err(ShutdownError::AlreadyShutDown("log lines"));
        }
        wait(&ack_rx, deadline_after(timeout), timeout)
    }

    /// Asks the thread to write what is queued and stop; from now on lines
    /// are written on the caller's thread. `None` if it was already asked,
    /// or in a forked child (no writer thread to ask).
    pub(crate) fn begin_shutdown(&self) -> Option<Receiver<()>> {
        if self.shared.forked() || self.shared.stopped.swap(true, Ordering::AcqRel) {
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
mod worker;

/// Writes all of `buf` to `fd` with `write(2)`, retrying on interruption.
fn write_fd(fd: i32, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is a valid slice for its length; `fd` is only
        // written to.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = buf.get(n.unsigned_abs()..).unwrap_or_default();
    }
    Ok(())
}
