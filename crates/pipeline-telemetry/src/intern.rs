//! Pipeline names, interned once so the hot path can index by a small id.

use std::sync::{Mutex, PoisonError};

use hashbrown::HashMap;

/// A pipeline name interned for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PipelineName {
    pub(crate) id: u32,
    pub(crate) name: &'static str,
}

static NAMES: Mutex<Option<HashMap<&'static str, u32>>> = Mutex::new(None);

/// Distinct pipeline names kept at most; past this, a new name is folded
/// into `other` (and counted in the DogStatsD client telemetry as
/// `datadog.dogstatsd.client.series_folded`), like series past the limit.
pub(crate) const MAX_PIPELINES: usize = 4096;

/// Interns `name`. Allocates (and leaks, once) only for a name not seen
/// before; pipeline names are few and long-lived, and bounded.
pub(crate) fn intern(name: &str) -> PipelineName {
    let mut guard = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some((k, v)) = map.get_key_value(name) {
        return PipelineName { id: *v, name: k };
    }
    let name = if map.len() >= MAX_PIPELINES {
        pipeline_telemetry_dogstatsd::note_folded();
        let other = pipeline_telemetry_dogstatsd::OTHER;
        if let Some((k, v)) = map.get_key_value(other) {
            return PipelineName { id: *v, name: k };
        }
        other
    } else {
        name
    };
    let id = u32::try_from(map.len()).unwrap_or(u32::MAX);
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    map.insert(leaked, id);
    PipelineName { id, name: leaked }
}
