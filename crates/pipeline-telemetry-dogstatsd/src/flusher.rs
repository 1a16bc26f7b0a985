//! The flusher: drains the shards, aggregates, encodes and hands
//! datagrams to the transport. It runs on one background thread (started
//! once per process, parked while no exporter is active), and once more on
//! the caller's thread when a guard is dropped, so that nothing recorded
//! before a clean shutdown is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError, TryLockError};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::encoder::{Encoder, MetricType, Suffix};
use crate::error::{InstallError, ShutdownError};
use crate::events::{self, Message};
use crate::registry::{self, Series};
use crate::shard;
use crate::stats::Stats;
use crate::telemetry::Telemetry;
use crate::timed;
use crate::writer::Transport;

/// An active exporter: its transport, encoder and global tags.
#[derive(Debug)]
pub(crate) struct Exporter {
    encoder: Encoder,
    sink: Sink,
    global_tags: String,
    /// Origin-detection fields appended to every line.
    extra: String,
    interval: Duration,
    suffixes: Vec<Option<Suffix>>,
    telemetry: Option<Telemetry>,
    line: Vec<u8>,
}

/// The transport and what happened to what was handed to it.
#[derive(Debug)]
struct Sink {
    transport: Box<dyn Transport>,
    stats: Stats,
}

impl Exporter {
    pub(crate) fn new(
        transport: Box<dyn Transport>,
        max_payload: usize,
        global_tags: String,
        interval: Duration,
    ) -> Self {
        let mut stats = Stats::default();
        stats.transport = transport.name();
        Exporter {
            encoder: Encoder::new(max_payload),
            sink: Sink { transport, stats },
            global_tags,
            extra: String::new(),
            interval,
            suffixes: Vec::new(),
            telemetry: None,
            line: Vec::new(),
        }
    }

    /// Appends origin-detection fields (`|c:..`) to every line.
    pub(crate) fn with_origin(mut self, extra: String) -> Self {
        self.extra = extra;
        self
    }

    /// Sends the client's telemetry every `interval` with `tags`.
    pub(crate) fn with_telemetry(mut self, t: Option<(Duration, String)>) -> Self {
        self.telemetry = t.map(|(i, tags)| Telemetry::new(i, tags));
        self
    }

    fn tags_of(&self, s: &Series) -> String {
        match (s.tags.is_empty(), self.global_tags.is_empty()) {
            (true, _) => self.global_tags.clone(),
            (false, true) => s.tags.clone(),
            (false, false) => format!("{},{}", s.tags, self.global_tags),
        }
    }

    /// Sends one timestamped point, unaggregated.
    fn encode_timed(&mut self, s: &Series, value: f64, timestamp: u64) {
        let suffix = Suffix::new(
            s.kind,
            Some(s.sample_rate),
            &self.tags_of(s),
            Some(timestamp),
            &self.extra,
        );
        let sink = &mut self.sink;
        self.encoder
            .encode(&s.name, &[value], &suffix, &mut |d| sink.send(d));
    }

    /// Sends the queued events and service checks.
    fn send_messages(&mut self) {
        while let Some(m) = events::pop() {
            self.line.clear();
            match &m {
                Message::Event(e) => {
                    e.write(&mut self.line, &self.global_tags, &self.extra);
                    self.sink.stats.events += 1;
                }
                Message::ServiceCheck(c) => {
                    c.write(&mut self.line, &self.global_tags, &self.extra);
                    self.sink.stats.service_checks += 1;
                }
            }
            let sink = &mut self.sink;
            self.encoder.push_line(&self.line, &mut |d| sink.send(d));
        }
    }

    fn send_telemetry(&mut self) {
        let Some(t) = self.telemetry.as_mut() else {
            return;
        };
        let mut stats = self.sink.stats.clone();
        stats.series = registry::len() as u64;
        stats.series_folded = registry::folded();
        for line in t.due_lines(&stats) {
            let sink = &mut self.sink;
            self.encoder
                .push_line(line.as_bytes(), &mut |d| sink.send(d));
        }
    }

    /// Encodes one series' values; full datagrams go to the transport.
    fn encode(&mut self, s: &Series, values: &[f64]) {
        let i = s.id as usize;
        if self.suffixes.len() <= i {
            self.suffixes.resize(i + 1, None);
        }
        if self.suffixes[i].is_none() {
            let tags = self.tags_of(s);
            self.suffixes[i] = Some(Suffix::new(
                s.kind,
                Some(s.sample_rate),
                &tags,
                None,
                &self.extra,
            ));
        }
        let Some(suffix) = self.suffixes[i].as_ref() else {
            return;
        };
        let sink = &mut self.sink;
        self.encoder
            .encode(&s.name, values, suffix, &mut |d| sink.send(d));
    }

    fn finish(&mut self) {
        let sink = &mut self.sink;
        self.encoder.finish(&mut |d| sink.send(d));
        let skipped = self.encoder.take_skipped();
        self.sink.stats.values_skipped += skipped.non_finite + skipped.too_long;
    }
}

#[derive(Debug, Default)]
struct State {
    exporter: Option<Exporter>,
    /// Counter totals already sent, by series id.
    sent: Vec<u64>,
    /// Distribution samples drained but not yet sent, by series id.
    buckets: Vec<Vec<f64>>,
    series: Vec<&'static Series>,
    /// Timestamped points drained but not yet sent.
    timed: Vec<timed::TimedPoint>,
}

static STATE: Mutex<State> = Mutex::new(State {
    exporter: None,
    sent: Vec::new(),
    buckets: Vec::new(),
    series: Vec::new(),
    timed: Vec::new(),
});
static THREAD: OnceLock<Thread> = OnceLock::new();
static INTERVAL_MS: AtomicU64 = AtomicU64::new(1000);

fn lock() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes the flusher early (a sample buffer is filling up). Lock-free.
#[inline]
pub(crate) fn wake() {
    if let Some(t) = THREAD.get() {
        t.unpark();
    }
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
    wake();
    Ok(())
}

fn run() {
    loop {
        std::thread::park_timeout(Duration::from_millis(INTERVAL_MS.load(Ordering::Relaxed)));
        flush_locked(&mut lock());
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
    stats.buffered_samples = shard::all().iter().map(|s| s.buffered() as u64).sum();
    stats
}

fn flush_locked(state: &mut State) {
    let State {
        exporter,
        sent,
        buckets,
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
    let mut unknown = 0u64;
    for s in shard::all() {
        exp.sink.stats.samples_dropped += s.take_dropped();
        s.drain(&mut |id, v| {
            let i = id as usize;
            if i >= registry::CAPACITY {
                unknown += 1;
                return;
            }
            if buckets.len() <= i {
                buckets.resize_with(i + 1, Vec::new);
            }
            buckets[i].push(v);
        });
    }
    points.clear();
    while let Some(p) = timed::pop() {
        points.push(p);
    }
    registry::snapshot(series);
    if buckets.len() < series.len() {
        buckets.resize_with(series.len(), Vec::new);
    }
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
                if !buckets[i].is_empty() {
                    exp.encode(s, &buckets[i]);
                    buckets[i].clear();
                }
            }
        }
    }
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

impl Sink {
    fn send(&mut self, datagram: &[u8]) {
        let len = datagram.len() as u64;
        let lines = datagram.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        match self.transport.send(datagram) {
            Ok(()) => {
                self.stats.packets_sent += 1;
                self.stats.bytes_sent += len;
                self.stats.metrics_sent += lines;
            }
            Err(e) => {
                self.stats.packets_dropped += 1;
                self.stats.bytes_dropped += len;
                self.stats.metrics_dropped += lines;
                self.stats.note_error(&e);
            }
        }
    }
}
