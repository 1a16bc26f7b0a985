//! The flusher: drains the shards, aggregates, encodes and hands
//! datagrams to the transport. It runs on one background thread (started
//! once per process, parked while no exporter is active), and once more on
//! the caller's thread when a guard is dropped, so that nothing recorded
//! before a clean shutdown is lost.
//!
//! Its lock is held to drain, aggregate and encode, never across a send, a
//! DNS resolution or a log write: those happen after it is released, through
//! the exporter's [`Link`](crate::link::Link). Only the flusher thread
//! resolves the Agent's name; a caller's thread that finds a resolution due
//! hands its datagrams to that thread and waits, bounded.
//!
//! A process forked without exec has no flusher thread, and a copy of the
//! parent's unsent samples. The flusher's and the registry's locks are
//! never copied held ([`crate::atfork`]); the transport's may be (a send in
//! progress). In a child forked while the parent's exporter ran, flushing,
//! stopping and stats do nothing and touch no lock: the parent sends what
//! it recorded, once. A child forked while no exporter ran may start one
//! (with a flusher thread of its own).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::encoder::MetricType;
use crate::error::{InstallError, ShutdownError};
use crate::events;
pub(crate) use crate::exporter::Exporter;
use crate::link::{self, Link, FLUSH_WAIT};
use crate::registry::{self, Series};
use crate::reservoir::{self, Reservoirs};
use crate::shard;
use crate::stats::Stats;
use crate::timed;

#[derive(Debug, Default)]
struct State {
    exporter: Option<Exporter>,
    /// Counter totals already sent, by series id.
    sent: Vec<u64>,
    /// Distribution samples drained but not yet sent, by series id.
    reservoirs: Reservoirs,
    series: Vec<&'static Series>,
    /// Timestamped points drained but not yet sent.
    timed: Vec<timed::TimedPoint>,
}

static STATE: Mutex<State> = Mutex::new(State {
    exporter: None,
    sent: Vec::new(),
    reservoirs: Reservoirs::new(),
    series: Vec::new(),
    timed: Vec::new(),
});
/// The flusher thread of the process in [`THREAD_PID`] (a leaked handle;
/// null before the first start).
static THREAD: AtomicPtr<Thread> = AtomicPtr::new(std::ptr::null_mut());
/// The process whose flusher thread [`THREAD`] is (a fork has none).
static THREAD_PID: AtomicU32 = AtomicU32::new(0);
/// Whether an exporter is active (between `start` and `stop`); as copied
/// into a forked child, whether one was running in its parent at the fork.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static INTERVAL_MS: AtomicU64 = AtomicU64::new(1000);
/// Set when the next wake-up should flush, not only drain.
static FLUSH_NOW: AtomicBool = AtomicBool::new(false);
/// The process that started an exporter (0: none yet).
static PID: AtomicU32 = AtomicU32::new(0);
/// A link whose queued datagrams (or due resolution) a caller's thread left
/// to the flusher thread, as only it resolves the Agent's name.
static HANDOFF: Mutex<Option<Arc<Link>>> = Mutex::new(None);

/// Leaves `link`'s queued datagrams to the flusher thread and wakes it.
fn hand_off(link: &Arc<Link>) {
    *HANDOFF.lock().unwrap_or_else(PoisonError::into_inner) = Some(link.clone());
    wake();
}

/// Sends what a caller's thread handed off, if anything, and resolves the
/// Agent's address again if that is due (on the flusher thread: this may
/// wait on a slow resolver).
fn send_handed_off() {
    let link = HANDOFF
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(link) = link {
        link.try_send();
        link.refresh();
    }
}

/// Whether this process is a fork (without exec) of the one that started
/// an exporter (and has not started one of its own): it has no flusher,
/// and the parent sends what was recorded.
pub(crate) fn forked() -> bool {
    let pid = PID.load(Ordering::Relaxed);
    pid != 0 && pid != std::process::id()
}

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The flusher's lock, held by [`crate::atfork`] across a `fork()` so that
/// a child never gets a copy of it held by another thread.
pub(crate) struct Held {
    _state: MutexGuard<'static, State>,
}

/// Takes the flusher's lock, waiting for its holder (a flush encodes
/// under it, never sends).
pub(crate) fn hold() -> Held {
    Held { _state: lock() }
}

/// Wakes the flusher early to drain the sample buffers (one is filling
/// up); what it drains is sent at the next flush. Lock-free.
#[inline]
pub(crate) fn wake() {
    // SAFETY: a non-null pointer here is a leaked `Thread`, never freed.
    if let Some(t) = unsafe { THREAD.load(Ordering::Acquire).as_ref() } {
        t.unpark();
    }
}

/// Wakes the flusher to flush now (an event or a timestamped point).
pub(crate) fn wake_flush() {
    FLUSH_NOW.store(true, Ordering::Release);
    wake();
}

/// Makes `exporter` the active one and makes sure the thread runs. A
/// child forked (without exec) from a process whose exporter was running
/// is refused; one forked after the parent's exporter stopped (or before
/// it started) starts its own, with a flusher thread of its own.
pub(crate) fn start(exporter: Exporter) -> Result<(), InstallError> {
    if forked() && ACTIVE.load(Ordering::Acquire) {
        return Err(InstallError::Forked);
    }
    crate::atfork::install();
    let pid = std::process::id();
    let mut state = lock();
    if state.exporter.is_some() {
        return Err(InstallError::AlreadyRunning);
    }
    PID.store(pid, Ordering::Relaxed);
    let ms = u64::try_from(exporter.interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    INTERVAL_MS.store(ms, Ordering::Relaxed);
    state.reservoirs.set_max(exporter.max_samples);
    // Under the lock: two starts never both spawn a thread.
    if THREAD_PID.load(Ordering::Acquire) != pid {
        let handle = std::thread::Builder::new()
            .name("dogstatsd-flusher".into())
            .spawn(run)
            .map_err(|source| InstallError::Connect {
                target: "flusher thread".into(),
                source,
            })?;
        let thread = Box::into_raw(Box::new(handle.thread().clone()));
        // A previous handle (the parent's thread, absent here) is leaked:
        // `wake` may still be reading it.
        THREAD.store(thread, Ordering::Release);
        THREAD_PID.store(pid, Ordering::Release);
    }
    state.exporter = Some(exporter);
    ACTIVE.store(true, Ordering::Release);
    drop(state);
    wake_flush();
    Ok(())
}

/// Flushes every interval; in between, a wake-up from a filling sample
/// buffer only drains the buffers into the reservoirs (cheap), so that
/// formatting and sending stay once per interval at any call rate.
fn run() {
    let mut last = Instant::now();
    loop {
        let interval = Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed));
        // `None`: an interval past what an `Instant` holds, never due.
        let due = link::deadline(last, interval);
        let now = Instant::now();
        if due.is_none_or(|d| now < d) && !FLUSH_NOW.load(Ordering::Acquire) {
            match due {
                Some(d) => std::thread::park_timeout(d - now),
                None => std::thread::park(),
            }
        }
        send_handed_off();
        if FLUSH_NOW.swap(false, Ordering::AcqRel) || due.is_some_and(|d| Instant::now() >= d) {
            // The lock is released at the end of this statement, before sending.
            let queued = flush_locked(&mut lock());
            if let Some((link, _)) = queued {
                link.try_send();
            }
            last = Instant::now();
        } else {
            drain_locked(&mut lock());
        }
    }
}

/// Moves every buffered sample into the reservoirs and every timestamped
/// point into `points`; returns how many could not be placed (ids past
/// the registry's capacity: none expected).
fn drain(reservoirs: &mut Reservoirs, points: &mut Vec<timed::TimedPoint>) -> u64 {
    let mut unknown = 0u64;
    for s in shard::all() {
        // Buffers past 7/8 full counted what they left out per series (see
        // `shard`).
        s.drain(&mut |id, level, v| {
            let i = id as usize;
            if i < registry::CAPACITY {
                reservoirs.offer(i, level, v);
            } else {
                unknown += 1;
            }
        });
    }
    while let Some(p) = timed::pop() {
        points.push(p);
    }
    unknown
}

fn drain_locked(state: &mut State) {
    if let Some(exp) = state.exporter.as_mut() {
        exp.sink.stats.samples_dropped += drain(&mut state.reservoirs, &mut state.timed);
    }
}

/// Flushes now, on the caller's thread; waits at most [`FLUSH_WAIT`] for
/// another thread's send in progress (its datagrams then stay queued for
/// that thread to send).
pub(crate) fn flush() {
    if forked() {
        return;
    }
    let queued = flush_locked(&mut lock());
    if let Some((link, seq)) = queued {
        link.send_until(seq, link::deadline(Instant::now(), FLUSH_WAIT), || {
            hand_off(&link)
        });
    }
}

/// How long [`stop`] waits at least for a flush being encoded on another
/// thread, whatever its timeout.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// Flushes everything and deactivates the exporter, waiting at most
/// `timeout` for a send in progress on another thread.
pub(crate) fn stop(timeout: Duration) -> Result<(), ShutdownError> {
    if forked() {
        return Ok(());
    }
    let now = Instant::now();
    let deadline = link::deadline(now, timeout);
    // The lock is held only while a flush encodes (milliseconds, no I/O) or
    // across a fork: the final flush waits for it, however short the
    // timeout (a zero one used to skip the final flush, and leave the
    // exporter running, whenever the flusher was encoding), up to
    // `LOCK_WAIT` at least.
    let lock_deadline = link::deadline(now, timeout.max(LOCK_WAIT));
    let mut state = loop {
        match STATE.try_lock() {
            Ok(g) => break g,
            Err(TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(TryLockError::WouldBlock) if lock_deadline.is_none_or(|d| Instant::now() < d) => {
                std::thread::sleep(Duration::from_micros(100));
            }
            Err(TryLockError::WouldBlock) => return Err(ShutdownError::TimedOut),
        }
    };
    let queued = flush_locked(&mut state);
    state.exporter = None;
    ACTIVE.store(false, Ordering::Release);
    drop(state);
    match queued {
        Some((link, seq)) if !link.send_until(seq, deadline, || hand_off(&link)) => {
            Err(ShutdownError::TimedOut)
        }
        _ => Ok(()),
    }
}

/// The active exporter's counters (none in a forked child).
pub(crate) fn stats() -> Stats {
    if forked() {
        return Stats::default();
    }
    let (encoded, link) = match &lock().exporter {
        Some(e) => (e.sink.stats.clone(), Some(e.link.clone())),
        None => (Stats::default(), None),
    };
    let mut stats = match link {
        Some(l) => link::with_sends(encoded, &l.stats()),
        None => encoded,
    };
    stats.series = registry::len() as u64;
    stats.series_folded = registry::folded();
    stats.buffered_samples = shard::all().map(|s| s.buffered() as u64).sum();
    stats
}

/// Drains, aggregates and encodes; queues the datagrams on the exporter's
/// link and returns it with their sequence number (to send once the lock
/// is released).
fn flush_locked(state: &mut State) -> Option<(Arc<Link>, u64)> {
    let State {
        exporter,
        sent,
        reservoirs,
        series,
        timed: points,
    } = state;
    let exp = exporter.as_mut()?;
    // Drain first, then snapshot the registry: a series is registered
    // before anything is recorded into it, so every id drained here is in
    // the snapshot, even one registered while this flush runs.
    let mut unknown = drain(reservoirs, points);
    registry::snapshot(series);
    reservoirs.grow(series.len());
    if sent.len() < series.len() {
        sent.resize(series.len(), 0);
    }
    for &s in series.iter() {
        let i = s.id as usize;
        match s.kind {
            MetricType::Count => {
                let total = shard::total(s.id);
                let delta = total.wrapping_sub(sent[i]);
                if delta > 0 {
                    sent[i] = total;
                    // Values above 2^53 lose precision as f64; counts that large are not expected.
                    exp.encode(s, &[delta as f64]);
                }
            }
            MetricType::Gauge => {
                if s.gauge_dirty.swap(false, Ordering::Acquire) {
                    let v = f64::from_bits(s.gauge_bits.load(Ordering::Relaxed));
                    exp.encode(s, &[v]);
                }
            }
            _ => {
                let skipped = shard::total(s.id);
                let left_out = || shard::left_out_value(s.id);
                let recorded =
                    reservoirs.take(i, skipped, s.sample_rate, left_out, |values, weight| {
                        exp.encode_weighted(s, values, weight);
                    });
                let level = reservoir::source_level(recorded, reservoirs.max());
                // Written only when it changes: recording threads read it.
                if s.source_level.load(Ordering::Relaxed) != level {
                    s.source_level.store(level, Ordering::Relaxed);
                }
            }
        }
    }
    shard::end_interval();
    exp.sink.stats.samples_sampled_out += reservoirs.take_sampled_out();
    for p in points.drain(..) {
        match series.get(p.id as usize) {
            Some(&s) => exp.encode_timed(s, p.value, p.timestamp),
            None => unknown += 1,
        }
    }
    exp.sink.stats.samples_dropped += unknown + timed::take_dropped() + events::take_dropped();
    exp.send_messages();
    exp.send_telemetry();
    exp.finish();
    let seq = exp.link.enqueue(std::mem::take(&mut exp.sink.outbox));
    Some((exp.link.clone(), seq))
}
