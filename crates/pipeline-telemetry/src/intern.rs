//! Pipeline names, interned once so the hot path can index by a small id,
//! and made tag-safe once so that every tag carrying the name (`pipeline`,
//! `flow`) gets the same value.

use std::sync::{Mutex, PoisonError};

use hashbrown::HashMap;
use pipeline_telemetry_catalogue::tags;
use pipeline_telemetry_dogstatsd::sanitize::{is_tag_value_char, MAX_TAG_LEN};
use pipeline_telemetry_dogstatsd::EMPTY_TAG_VALUE;

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

/// The longest pipeline name kept, in characters: what fits in a tag
/// (`MAX_TAG_LEN` for `key:value`) under the longest key that carries it.
/// Cut once here, the name is the same value under `pipeline` and `flow`;
/// cut by the tag limit, `flow:<name>` would keep 4 characters more than
/// `pipeline:<name>`.
pub(crate) const MAX_PIPELINE_NAME: usize =
    MAX_TAG_LEN - 1 - max_len(&[tags::PIPELINE, tags::FLOW]);

const fn max_len(keys: &[&str]) -> usize {
    let mut i = 0;
    let mut max = 0;
    while i < keys.len() {
        if keys[i].len() > max {
            max = keys[i].len();
        }
        i += 1;
    }
    max
}

/// `name` as every tag will carry it: characters a tag value cannot hold
/// become `_` (as the tag sanitiser does), at most [`MAX_PIPELINE_NAME`]
/// characters, `unnamed` when empty.
fn tag_safe(name: &str) -> String {
    if name.is_empty() {
        return EMPTY_TAG_VALUE.to_owned();
    }
    name.chars()
        .take(MAX_PIPELINE_NAME)
        .map(|c| if is_tag_value_char(c) { c } else { '_' })
        .collect()
}

/// Interns `name`, made tag-safe ([`tag_safe`]). Allocates (and leaks,
/// once) only for a name not seen before; pipeline names are few and
/// long-lived, and bounded.
pub(crate) fn intern(name: &str) -> PipelineName {
    let name = &*tag_safe(name);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cut_to_fit_under_every_key() {
        assert_eq!(MAX_PIPELINE_NAME, 191);
        let long = "é".repeat(300);
        let n = intern(&long);
        assert_eq!(n.name.chars().count(), MAX_PIPELINE_NAME);
        assert_eq!(intern("a|b,c#d\ne").name, "a_b_c_d_e");
        assert_eq!(intern("").name, "unnamed");
        // The same name, the same id.
        assert_eq!(intern(&long), n);
    }
}
