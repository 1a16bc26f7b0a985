//! The handles of pipelines past a call site's own cache: a small,
//! direct-mapped cache per thread, so that a stage of the 17th (or 500th)
//! pipeline does not look its series up in the registry on every call.
//! No lock, no allocation: a slot holds two `Copy` handles.

use std::cell::Cell;

use pipeline_telemetry_dogstatsd::DistributionHandle;

use crate::intern::PipelineName;

/// Slots per thread (a power of two).
const SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Entry {
    callsite: usize,
    pipeline: u32,
    ok: DistributionHandle,
    error: DistributionHandle,
}

thread_local! {
    static CACHE: [Cell<Option<Entry>>; SLOTS] = const { [const { Cell::new(None) }; SLOTS] };
}

/// The `(ok, error)` duration handles of `pipeline` at the call site whose
/// address is `callsite`, from this thread's cache or else from
/// `register` (which then fills the slot).
#[inline]
pub(crate) fn handles(
    callsite: usize,
    pipeline: PipelineName,
    register: impl FnOnce() -> (DistributionHandle, DistributionHandle),
) -> (DistributionHandle, DistributionHandle) {
    // Call sites are statics at least 8 bytes apart; pipeline ids are dense.
    let slot = ((callsite >> 3) ^ (pipeline.id as usize).wrapping_mul(0x9E37_79B9)) % SLOTS;
    let hit = CACHE
        .try_with(|c| c[slot].get())
        .ok()
        .flatten()
        .filter(|e| e.callsite == callsite && e.pipeline == pipeline.id);
    if let Some(e) = hit {
        return (e.ok, e.error);
    }
    let (ok, error) = register();
    let _ = CACHE.try_with(|c| {
        c[slot].set(Some(Entry {
            callsite,
            pipeline: pipeline.id,
            ok,
            error,
        }))
    });
    (ok, error)
}
