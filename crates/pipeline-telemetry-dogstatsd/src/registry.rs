//! The process-wide series registry: one `&'static Series` per distinct
//! (type, name, tags). Looking up or registering is the cold path (a read
//! lock and a hash of borrowed strings, no allocation on a hit); the
//! handles it returns are what the hot path uses.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};

use hashbrown::{Equivalent, HashMap};

use crate::encoder::MetricType;
use crate::handle::SeriesFn;
use crate::sanitize;
use crate::shard::{SEGMENT, SEGMENTS};

/// The most series one process can hold; later registrations are counted
/// and their handles record nothing.
pub const MAX_SERIES: usize = SEGMENT * SEGMENTS - 1;
/// The id of the series that absorbs registrations past [`MAX_SERIES`].
pub(crate) const OVERFLOW_ID: u32 = u32::MAX;

/// One series: what its lines look like on the wire, and its gauge cell.
#[derive(Debug)]
pub struct Series {
    pub(crate) id: u32,
    pub(crate) kind: MetricType,
    /// Client-side sample rate (1.0: every call is kept).
    pub(crate) sample_rate: f64,
    /// Sanitised name.
    pub(crate) name: String,
    /// Sanitised, comma-separated tags (without the global tags).
    pub(crate) tags: String,
    pub(crate) gauge_bits: AtomicU64,
    pub(crate) gauge_dirty: AtomicBool,
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
    overflowed: AtomicU64,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

static OVERFLOW: LazyLock<&'static Series> = LazyLock::new(|| {
    let s = Series {
        id: OVERFLOW_ID,
        kind: MetricType::Count,
        sample_rate: 1.0,
        name: String::new(),
        tags: String::new(),
        gauge_bits: AtomicU64::new(0),
        gauge_dirty: AtomicBool::new(false),
        metrics_fn: OnceLock::new(),
    };
    Box::leak(Box::new(s))
});

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
    if list.len() >= MAX_SERIES {
        REGISTRY.overflowed.fetch_add(1, Ordering::Relaxed);
        return &OVERFLOW;
    }
    let id = u32::try_from(list.len()).unwrap_or(OVERFLOW_ID);
    let mut tags = String::new();
    sanitize::push_tags(&mut tags, key.labels.iter().copied());
    let series: &'static Series = Box::leak(Box::new(Series {
        id,
        kind: key.kind,
        sample_rate: f64::from_bits(key.rate_bits),
        name: sanitize::name(key.name),
        tags,
        gauge_bits: AtomicU64::new(0),
        gauge_dirty: AtomicBool::new(false),
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

/// Registrations refused because [`MAX_SERIES`] was reached.
pub fn overflowed() -> u64 {
    REGISTRY.overflowed.load(Ordering::Relaxed)
}

/// How many series are registered.
pub fn len() -> usize {
    REGISTRY
        .list
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .len()
}
