//! The flusher: drains the shards, aggregates, encodes and hands
//! datagrams to the transport. It runs on one background thread (started
//! once per process, parked while no exporter is active), and once more on
//! the caller's thread when a guard is dropped, so that nothing recorded
//! before a clean shutdown is lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::encoder::MetricType;
use crate::error::{InstallError, ShutdownError};
use crate::events;
pub(crate) use crate::exporter::Exporter;
use crate::registry::{self, Series};
use crate::reservoir::Reservoirs;
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
static THREAD: OnceLock<Thread> = OnceLock::new();
static INTERVAL_MS: AtomicU64 = AtomicU64::new(1000);
/// Set when the next wake-up should flush, not only drain.
static FLUSH_NOW: AtomicBool = AtomicBool::new(false);

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes the flusher early to drain the sample buffers (one is filling
/// up); what it drains is sent at the next flush. Lock-free.
#[inline]
pub(crate) fn wake() {
    if let Some(t) = THREAD.get() {
        t.unpark();
    }
}

/// Wakes the flusher to flush now (an event or a timestamped point).
pub(crate) fn wake_flush() {
    FLUSH_NOW.store(true, Ordering::Release);
    wake();
}

/// Makes `exporter` the active one and makes sure the thread runs.
pub(crate) fn start(exporter: Exporter) -> Result<(), InstallError> {
    let mut state = lock();
    if state.exporter.is_some() {
        return Err(InstallError::AlreadyRunning);
    }
    let ms = u64::try_from(exporter.interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    INTERVAL_MS.store(ms, Ordering::Relaxed);
    state.reservoirs.set_max(exporter.max_samples);
    state.exporter = Some(exporter);
    drop(state);
    if THREAD.get().is_none() {
        let handle = std::thread::Builder::new()
            .name("dogstatsd-flusher".into())
            .spawn(run)
            .map_err(|source| InstallError::Connect {
                target: "flusher thread".into(),
                source,
            })?;
        let _ = THREAD.set(handle.thread().clone());
    }
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
        let due = last + interval;
        let now = Instant::now();
        if now < due && !FLUSH_NOW.load(Ordering::Acquire) {
            std::thread::park_timeout(due - now);
        }
        let mut state = lock();
        if FLUSH_NOW.swap(false, Ordering::AcqRel) || Instant::now() >= due {
            flush_locked(&mut state);
            last = Instant::now();
        } else {
            drain_locked(&mut state);
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

/// Flushes now, on the caller's thread.
pub(crate) fn flush() {
    flush_locked(&mut lock());
}

/// Flushes everything and deactivates the exporter, waiting at most
/// `timeout` for a flush in progress on the background thread.
pub(crate) fn stop(timeout: Duration) -> Result<(), ShutdownError> {
    let deadline = Instant::now() + timeout;
    let mut state = loop {
        match STATE.try_lock() {
            Ok(g) => break g,
            Err(TryLockError::Poisoned(p)) => break p.into_inner(),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => return Err(ShutdownError::TimedOut),
        }
    };
    flush_locked(&mut state);
    state.exporter = None;
    Ok(())
}

/// The active exporter's counters.
pub(crate) fn stats() -> Stats {
    let mut stats = lock()
        .exporter
        .as_ref()
        .map(|e| e.sink.stats.clone())
        .unwrap_or_default();
    stats.series = registry::len() as u64;
    stats.series_folded = registry::folded();
    stats.buffered_samples = shard::all().map(|s| s.buffered() as u64).sum();
    stats
}

fn flush_locked(state: &mut State) {
    let State {
        exporter,
        sent,
        reservoirs,
        series,
        timed: points,
    } = state;
    let Some(exp) = exporter.as_mut() else {
        return;
    };
    exp.sink.transport.begin_flush();
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
                reservoirs.take(i, shard::total(s.id), s.sample_rate, |values, weight| {
                    exp.encode_weighted(s, values, weight);
                });
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
}
