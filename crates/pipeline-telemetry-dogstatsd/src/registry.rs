//! The process-wide series registry: one `&'static Series` per distinct
//! (type, name, tags). Looking up or registering is the cold path (a read
//! lock and a hash of borrowed strings, no allocation on a hit); the
//! handles it returns are what the hot path uses.
//!
//! The registry is bounded. Past [`MAX_SERIES`] a new series is folded into
//! an overflow series: the same name and tag keys with every tag value
//! [`OTHER`] (DESIGN.md's rule for cardinality), so its data still arrives
//! and existing series keep working. Those overflow series have
//! [`OVERFLOW_SERIES`] slots of their own; past them, what is left goes to
//! one catch-all series per type, [`CATCH_ALL_NAME`]`.<type>`. Every fold is
//! counted ([`folded`]) and reported in the client telemetry as
//! `datadog.dogstatsd.client.series_folded`.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock, RwLockWriteGuard};

use hashbrown::{Equivalent, HashMap};

use crate::encoder::MetricType;
use crate::handle::SeriesFn;
use crate::sanitize;
use crate::shard::{SEGMENT, SEGMENTS};

/// Ids one process can hand out (the hot path's counter cells).
pub(crate) const CAPACITY: usize = SEGMENT * SEGMENTS;
/// Slots kept for the overflow series (tag values folded into [`OTHER`]).
pub const OVERFLOW_SERIES: usize = 4096;
/// The most distinct series one process registers as they are; past this,
/// new series are folded (see the module docs).
pub const MAX_SERIES: usize = CAPACITY - OVERFLOW_SERIES;
/// The value every tag of a folded series takes.
pub const OTHER: &str = "other";
/// The name of the last-resort series of each type (`.count`, `.gauge`,
/// `.distribution`, ...) once the overflow slots are used up too.
pub const CATCH_ALL_NAME: &str = "pipeline_telemetry.series_overflow";
/// One catch-all per metric type.
const KINDS: usize = 6;

/// One series: what its lines look like on the wire, and its gauge cell.
#[derive(Debug)]
pub struct Series {
    pub(crate) id: u32,
    pub(crate) kind: MetricType,
    /// Client-side sample rate (1.0: every call is kept).
    pub(crate) sample_rate: f64,
    /// `sample_rate < 1.0`, the one byte the hot path tests.
    pub(crate) sampled: bool,
    /// The id's cell and segment bytes (`id.to_le_bytes()[..2]`; every id
    /// is below 2^16), read as they are by a counter increment.
    pub(crate) cell: [u8; 2],
    /// Sanitised name.
    pub(crate) name: String,
    /// Sanitised, comma-separated tags (without the global tags).
    pub(crate) tags: String,
    pub(crate) gauge_bits: AtomicU64,
    pub(crate) gauge_dirty: AtomicBool,
    /// For a distribution, the level its samples are thinned to at the
    /// source (kept with probability 2^-level before they reach a
    /// buffer), set by the flusher from the samples of its last interval
    /// (see `reservoir::source_level`); 0 for every other series.
    pub(crate) source_level: AtomicU32,
    metrics_fn: OnceLock<Arc<SeriesFn>>,
}

impl Series {
    /// The series' type.
    pub fn kind(&self) -> MetricType {
        self.kind
    }
    /// The client-side sample rate (`|@rate` when below 1).
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }
    /// The sanitised metric name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The sanitised tags of this series, comma-separated.
    pub fn tags(&self) -> &str {
        &self.tags
    }
    /// For a distribution recorded far more often per flush than it sends
    /// values, the level its samples are thinned to before they reach a
    /// buffer: each is kept with probability 2^-level, and the rest are
    /// counted, so the Agent still counts every sample; 0 when every
    /// sample reaches a buffer. Set at each flush from the last interval's
    /// samples.
    pub fn source_level(&self) -> u32 {
        self.source_level.load(Ordering::Relaxed)
    }
    /// The shared `metrics` adapter of this series (allocated once).
    pub(crate) fn metrics_fn(&'static self) -> Arc<SeriesFn> {
        self.metrics_fn
            .get_or_init(|| Arc::new(SeriesFn(self)))
            .clone()
    }
}

#[derive(Debug, PartialEq, Eq)]
struct OwnedKey {
    kind: MetricType,
    rate_bits: u64,
    name: String,
    labels: Vec<(String, String)>,
}

struct KeyRef<'a> {
    kind: MetricType,
    rate_bits: u64,
    name: &'a str,
    labels: &'a [(&'a str, &'a str)],
}

fn hash_parts<'a, H: Hasher>(
    state: &mut H,
    kind: MetricType,
    rate_bits: u64,
    name: &str,
    labels: impl ExactSizeIterator<Item = (&'a str, &'a str)>,
) {
    kind.hash(state);
    rate_bits.hash(state);
    name.hash(state);
    labels.len().hash(state);
    for (k, v) in labels {
        k.hash(state);
        v.hash(state);
    }
}

impl Hash for OwnedKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let labels = self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        hash_parts(state, self.kind, self.rate_bits, &self.name, labels);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_parts(
            state,
            self.kind,
            self.rate_bits,
            self.name,
            self.labels.iter().copied(),
        );
    }
}

impl Equivalent<OwnedKey> for KeyRef<'_> {
    fn equivalent(&self, key: &OwnedKey) -> bool {
        self.kind == key.kind
            && self.rate_bits == key.rate_bits
            && self.name == key.name
            && self.labels.len() == key.labels.len()
            && self
                .labels
                .iter()
                .zip(&key.labels)
                .all(|((a, b), (c, d))| a == c && b == d)
    }
}

#[derive(Debug, Default)]
struct Registry {
    map: RwLock<HashMap<OwnedKey, &'static Series>>,
    list: RwLock<Vec<&'static Series>>,
    /// Registrations folded, plus values folded by callers ([`note_folded`]).
    folded: AtomicU64,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
    crate::atfork::install();
    Registry::default()
});

/// Both of the registry's locks, held for writing (see [`crate::atfork`]).
pub(crate) struct Held {
    _map: RwLockWriteGuard<'static, HashMap<OwnedKey, &'static Series>>,
    _list: RwLockWriteGuard<'static, Vec<&'static Series>>,
}

/// Takes both locks for writing, in the order [`insert`] takes them (so
/// that it cannot deadlock with a registration), waiting for any holder.
pub(crate) fn hold() -> Held {
    let map = REGISTRY.map.write().unwrap_or_else(PoisonError::into_inner);
    let list = REGISTRY
        .list
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    Held {
        _map: map,
        _list: list,
    }
}

/// Finds or creates the series `(kind, name, labels)`; `labels` are raw
/// (sanitised here, once). Allocates only when the series is new.
pub(crate) fn series(kind: MetricType, name: &str, labels: &[(&str, &str)]) -> &'static Series {
    sampled_series(kind, 1.0, name, labels)
}

/// [`series`] with a client-side sample rate in `(0, 1]` (clamped).
pub(crate) fn sampled_series(
    kind: MetricType,
    rate: f64,
    name: &str,
    labels: &[(&str, &str)],
) -> &'static Series {
    let rate = if rate.is_finite() {
        rate.clamp(f64::MIN_POSITIVE, 1.0)
    } else {
        1.0
    };
    let key = KeyRef {
        kind,
        rate_bits: rate.to_bits(),
        name,
        labels,
    };
    let map = REGISTRY.map.read().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = map.get(&key) {
        return s;
    }
    drop(map);
    insert(key)
}

#[cold]
fn insert(key: KeyRef<'_>) -> &'static Series {
    let mut map = REGISTRY.map.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(s) = map.get(&key) {
        return s;
    }
    let mut list = REGISTRY
        .list
        .write()
        .unwrap_or_else(PoisonError::into_inner);
    if list.len() < MAX_SERIES {
        return create(&mut map, &mut list, &key);
    }
    REGISTRY.folded.fetch_add(1, Ordering::Relaxed);
    let other: Vec<(&str, &str)> = key.labels.iter().map(|(k, _)| (*k, OTHER)).collect();
    let folded = KeyRef {
        labels: &other,
        ..key
    };
    if let Some(s) = map.get(&folded) {
        return s;
    }
    if list.len() < CAPACITY - KINDS {
        return create(&mut map, &mut list, &folded);
    }
    let name = format!("{CATCH_ALL_NAME}.{}", kind_name(key.kind));
    let catch_all = KeyRef {
        kind: key.kind,
        rate_bits: 1.0f64.to_bits(),
        name: &name,
        labels: &[],
    };
    match map.get(&catch_all) {
        Some(s) => s,
        // At most one per type, and KINDS ids are kept for them.
        None => create(&mut map, &mut list, &catch_all),
    }
}

fn kind_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::Count => "count",
        MetricType::Gauge => "gauge",
        MetricType::Distribution => "distribution",
        MetricType::Histogram => "histogram",
        MetricType::Timing => "timing",
        MetricType::Set => "set",
    }
}

fn create(
    map: &mut HashMap<OwnedKey, &'static Series>,
    list: &mut Vec<&'static Series>,
    key: &KeyRef<'_>,
) -> &'static Series {
    // `list.len() < CAPACITY` is guaranteed by the callers' bounds.
    let id = u32::try_from(list.len()).unwrap_or(u32::MAX);
    let mut tags = String::new();
    sanitize::push_tags(&mut tags, key.labels.iter().copied());
    let series: &'static Series = Box::leak(Box::new(Series {
        id,
        kind: key.kind,
        sample_rate: f64::from_bits(key.rate_bits),
        sampled: f64::from_bits(key.rate_bits) < 1.0,
        cell: [id.to_le_bytes()[0], id.to_le_bytes()[1]],
        name: sanitize::name(key.name),
        tags,
        gauge_bits: AtomicU64::new(0),
        gauge_dirty: AtomicBool::new(false),
        source_level: AtomicU32::new(0),
        metrics_fn: OnceLock::new(),
    }));
    list.push(series);
    let owned = OwnedKey {
        kind: key.kind,
        rate_bits: key.rate_bits,
        name: key.name.to_owned(),
        labels: key
            .labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    map.insert(owned, series);
    series
}

/// Every series registered so far, in id order.
pub(crate) fn snapshot(into: &mut Vec<&'static Series>) {
    into.clear();
    into.extend_from_slice(&REGISTRY.list.read().unwrap_or_else(PoisonError::into_inner));
}

/// Registrations folded into an overflow series because [`MAX_SERIES`] was
/// reached, plus the values callers folded with [`note_folded`], since the
/// process started.
pub fn folded() -> u64 {
    REGISTRY.folded.load(Ordering::Relaxed)
}

/// Counts one tag value that the caller folded into [`OTHER`] because a
/// bounded table of its own was full (the facade's table of pipeline
/// names does this), so that it shows in the client telemetry with the
/// series folded here.
pub fn note_folded() {
    REGISTRY.folded.fetch_add(1, Ordering::Relaxed);
}

/// How many series are registered.
pub(crate) fn len() -> usize {
    REGISTRY
        .list
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}
