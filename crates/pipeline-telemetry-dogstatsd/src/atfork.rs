//! Fork safety of the series registry and the flusher. A `fork()` copies
//! their locks as they are at that moment; one held by another thread (the
//! flusher encoding or taking its registry snapshot, a thread registering
//! a series) would stay held in the child forever, and the child's first
//! registration (or exporter start) would wait on it without end.
//! `pthread_atfork` handlers make the fork wait until no other thread holds
//! them: the forking thread takes them just before the fork (the flusher's
//! first, then the registry's, the order a flush takes them) and releases
//! them just after, in the parent and in the child. Neither is ever held
//! across I/O, so the wait is short.

use std::cell::RefCell;
use std::sync::Once;

use crate::{flusher, registry};

thread_local! {
    /// The locks, held by the forking thread across `fork()`.
    static HELD: RefCell<Option<(flusher::Held, registry::Held)>> = const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let held = (flusher::hold(), registry::hold());
    let _ = HELD.try_with(|h| {
        if let Ok(mut slot) = h.try_borrow_mut() {
            *slot = Some(held);
        }
    });
}

extern "C" fn release() {
    let _ = HELD.try_with(|h| {
        if let Ok(mut slot) = h.try_borrow_mut() {
            // Dropping the guards unlocks (in the child too: it is the
            // thread that took them), the registry's first.
            if let Some((state, registry)) = slot.take() {
                drop(registry);
                drop(state);
            }
        }
    });
}

/// Installs the handlers, once per process (when the registry is first
/// used, or an exporter starts).
pub(crate) fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: the handlers are `extern "C"` functions that never unwind
        // (no panicking call: `try_with`, `try_borrow_mut`, poison-tolerant
        // locks) and live as long as the process.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
        if rc != 0 {
            tracing::warn!(
                target: "pipeline_telemetry_dogstatsd",
                error = rc,
                "cannot install the fork handlers; a child forked without exec may block registering a metric"
            );
        }
    });
}
