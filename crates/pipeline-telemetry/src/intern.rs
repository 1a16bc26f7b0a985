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

/// Interns `name`. Allocates (and leaks, once) only for a name not seen
/// before; pipeline names are few and long-lived.
pub(crate) fn intern(name: &str) -> PipelineName {
    let mut guard = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let map = guard.get_or_insert_with(HashMap::new);
    if let Some((k, v)) = map.get_key_value(name) {
        return PipelineName { id: *v, name: k };
    }
    let id = u32::try_from(map.len()).unwrap_or(u32::MAX);
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    map.insert(leaked, id);
    PipelineName { id, name: leaked }
}
