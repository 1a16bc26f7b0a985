//! Between the flusher and the transport: encoded datagrams wait in an
//! [`Outbox`], and whoever holds the transport sends every outbox queued.
//!
//! The flusher's global lock ([`crate::flusher`]) is held only to drain,
//! aggregate and encode; it is released before any send. Sends (with the
//! DNS resolution and reconnection a transport does in them, and the
//! warnings it logs) happen under the transport's own lock, which no one
//! waits on without a bound: a thread that finds it taken queues its outbox
//! and lets the holder send it. Only the flusher thread resolves a name: a
//! caller's thread (`flush()`, a shutdown) sends to the address already
//! known, and when none is known yet it hands the send to the flusher
//! thread and waits for it, bounded. So a slow resolver or a stalled socket
//! never holds up `stats()`, `flush()` (bounded by [`FLUSH_WAIT`]) or a
//! shutdown (bounded by its timeout), and nothing queued is lost while the
//! flusher thread makes progress.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::stats::Stats;
use crate::transport::Transport;

/// The longest [`flush`](crate::DogStatsDGuard::flush) waits for another
/// thread's send in progress (e.g. blocked resolving the Agent's name)
/// before it returns, leaving its datagrams queued for that thread.
pub(crate) const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// Datagrams encoded by one flush, in order, in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Outbox {
    pub(crate) fn push(&mut self, datagram: &[u8]) {
        self.bytes.extend_from_slice(datagram);
        self.ends.push(self.bytes.len());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let d = self.bytes.get(start..end).unwrap_or_default();
            start = end;
            d
        })
    }
}

/// The transport and what it did, owned by whoever is sending.
#[derive(Debug)]
struct Io {
    transport: Box<dyn Transport>,
    /// Only the send counters and the error warning state are used.
    stats: Stats,
}

/// One exporter's transport, its queue of outboxes and its send counters.
#[derive(Debug)]
pub(crate) struct Link {
    queue: Mutex<VecDeque<(u64, Outbox)>>,
    io: Mutex<Io>,
    /// A copy of the send counters, updated after each outbox.
    published: Mutex<Stats>,
    /// The sequence number of the last outbox queued.
    queued: AtomicU64,
    /// The sequence number of the last outbox sent (or dropped and counted).
    done: AtomicU64,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Link {
    pub(crate) fn new(transport: Box<dyn Transport>) -> Self {
        Link {
            queue: Mutex::new(VecDeque::new()),
            io: Mutex::new(Io {
                transport,
                stats: Stats::default(),
            }),
            published: Mutex::new(Stats::default()),
            queued: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// Queues an outbox (an empty one too: it marks a flush); returns its
    /// sequence number. Never blocks on a send.
    pub(crate) fn enqueue(&self, outbox: Outbox) -> u64 {
        let mut q = relock(&self.queue);
        let seq = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        q.push_back((seq, outbox));
        seq
    }

    /// Sends what is queued if no other thread is sending; else leaves it
    /// to that thread. Returns at once when another thread sends. For the
    /// flusher thread: a send may resolve the Agent's name first.
    pub(crate) fn try_send(&self) {
        self.try_send_as(Sender::Flusher);
    }

    /// What is left for the flusher thread: nothing, or (as the caller's
    /// thread) the send itself (no address known yet) or a resolution due.
    fn try_send_as(&self, who: Sender) -> ForFlusher {
        loop {
            let io = match self.io.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => return ForFlusher::Nothing,
            };
            if who == Sender::Caller && io.transport.needs_resolve() {
                return ForFlusher::Send;
            }
            let due = who == Sender::Caller && io.transport.resolve_due();
            self.send_queued(io, who);
            // An outbox queued while we released the transport, by a thread
            // that found it taken, is ours to send.
            if relock(&self.queue).is_empty() {
                return if due {
                    ForFlusher::Resolve
                } else {
                    ForFlusher::Nothing
                };
            }
        }
    }

    /// Resolves the Agent's address again if that is due (the flusher
    /// thread, after a caller's thread found it due).
    pub(crate) fn refresh(&self) {
        relock(&self.io).transport.refresh();
    }

    /// Sends what is queued from a caller's thread, to the address already
    /// known, waiting until `deadline` at most for another thread's send in
    /// progress; with no address known yet, calls `hand_off` (which wakes
    /// the flusher thread to resolve and send) and waits for it. A
    /// re-resolution due is handed off too, without waiting for it: the
    /// next send goes to the new address. `true` once outbox `seq` is sent.
    pub(crate) fn send_until(
        &self,
        seq: u64,
        deadline: Option<Instant>,
        hand_off: impl Fn(),
    ) -> bool {
        let mut handed = false;
        loop {
            if self.try_send_as(Sender::Caller) != ForFlusher::Nothing && !handed {
                hand_off();
                handed = true;
            }
            if self.done.load(Ordering::Acquire) >= seq {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn send_queued(&self, mut io: MutexGuard<'_, Io>, who: Sender) {
        loop {
            // The queue's lock is held only to take one outbox.
            let next = relock(&self.queue).pop_front();
            let Some((seq, outbox)) = next else {
                return;
            };
            let Io { transport, stats } = &mut *io;
            if !outbox.is_empty() {
                transport.begin_flush();
            }
            for d in outbox.datagrams() {
                send_one(transport.as_mut(), stats, d, who);
            }
            *relock(&self.published) = stats.clone();
            self.done.fetch_max(seq, Ordering::Release);
        }
    }

    /// The send counters so far (of outboxes fully sent).
    pub(crate) fn stats(&self) -> Stats {
        relock(&self.published).clone()
    }
}

/// What a caller's thread leaves to the flusher thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForFlusher {
    Nothing,
    /// The send: no address is known yet.
    Send,
    /// Resolving the address again (the send went to the one known).
    Resolve,
}

/// Which thread sends: only the flusher thread may resolve a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Flusher,
    Caller,
}

fn send_one(transport: &mut dyn Transport, stats: &mut Stats, datagram: &[u8], who: Sender) {
    let len = datagram.len() as u64;
    let lines = datagram.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let sent = match who {
        Sender::Flusher => transport.send(datagram),
        Sender::Caller => transport.send_cached(datagram),
    };
    match sent {
        Ok(()) => {
            stats.packets_sent += 1;
            stats.bytes_sent += len;
            stats.metrics_sent += lines;
        }
        Err(e) => {
            stats.packets_dropped += 1;
            stats.bytes_dropped += len;
            stats.metrics_dropped += lines;
            stats.note_error(&e);
        }
    }
}

/// `into` plus the send counters of `io`.
pub(crate) fn with_sends(mut into: Stats, io: &Stats) -> Stats {
    into.packets_sent += io.packets_sent;
    into.bytes_sent += io.bytes_sent;
    into.metrics_sent += io.metrics_sent;
    into.packets_dropped += io.packets_dropped;
    into.bytes_dropped += io.bytes_dropped;
    into.metrics_dropped += io.metrics_dropped;
    into.errors += io.errors;
    into
}

/// `now + d`, or `None` when that is past what an [`Instant`] holds (a
/// `Duration::MAX` timeout waits without end instead of panicking).
pub(crate) fn deadline(now: Instant, d: Duration) -> Option<Instant> {
    now.checked_add(d)
}
