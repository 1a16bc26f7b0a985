//! Which fork of the process this is, read without a system call.
//!
//! A child forked without exec has none of its parent's threads: the log
//! writer thread is not there to write what the child queues. The writer
//! notes the generation it started in and compares it on every line; a
//! `pthread_atfork` child handler bumps the generation in each child, so
//! the check is one relaxed load where `getpid()` would be a system call
//! per log line.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

static GENERATION: AtomicU32 = AtomicU32::new(0);

extern "C" fn child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation, with the handler installed (once per
/// process) so that a later fork changes it.
pub(crate) fn generation() -> u32 {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `child` is an `extern "C"` function that only does an
        // atomic add (it never unwinds) and lives as long as the process.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(child)) };
        if rc != 0 {
            tracing::warn!(
                target: "pipeline_telemetry_otel",
                error = rc,
                "cannot install the fork handler; a child forked without exec may queue log lines nobody writes"
            );
        }
    });
    GENERATION.load(Ordering::Relaxed)
}

/// Whether this process is a fork (without exec) of the one in
/// [`generation`] `started`.
#[inline]
pub(crate) fn forked_since(started: u32) -> bool {
    GENERATION.load(Ordering::Relaxed) != started
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_child_sees_a_new_generation_and_the_parent_does_not() {
        let started = super::generation();
        // SAFETY: the child only reads an atomic and exits with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = i32::from(!super::forked_since(started));
            // SAFETY: ends the child at once, running nothing of the parent's.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid);
        assert!(libc::WIFEXITED(status));
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "the child saw no new generation"
        );
        assert!(!super::forked_since(started));
    }
}
