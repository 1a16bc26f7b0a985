//! One failure, one count: when stages nest and an outer stage passes an
//! inner stage's error on (`?`), the failure is counted once, by the
//! innermost stage that failed.
//!
//! Each stage call has a frame: what the stage calls made inside it
//! reported when they ended. The frame of the stage running now is one
//! plain thread-local cell, saved and restored like a stack: a sync stage
//! puts a fresh frame in place when it starts and restores its caller's
//! when it ends; an async stage puts its own frame in place for each poll
//! and takes it back after, so the frame follows the stage's future (and
//! its task) from worker to worker, never the thread. No lock, no
//! allocation: a frame is a `Copy` value of two words.
//!
//! When a stage ends, it reports to the frame around it (its caller's):
//! `Ok` clears it, a failure leaves its `error_type`. A stage that ends in
//! `Err` while the last stage call inside it failed is taken to pass that
//! failure on: it marks its span and its status, and does not count
//! `pipeline.errors` again. The frame is what stages without a run go by.
//!
//! The frame also names the stage whose body is running, so that
//! [`record_records`](crate::record_records) counts for the current stage
//! without the stage's name being written again.
//!
//! In a run, the failures are recorded in the run itself instead (see
//! [`run_failures`](crate::run_failures)), which follows the work to every
//! thread and task the run is entered in.

use std::cell::Cell;

use crate::stage::StageCallsite;

/// What the stage calls inside one stage call reported, and which stage
/// that call is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Frame {
    /// The `error_type` of the failure the last stage call inside this one
    /// ended with, if it failed (`None`: no call yet, or it succeeded).
    failed_inner: Option<&'static str>,
    /// The stage of this call (`None`: outside any stage).
    stage: Option<&'static StageCallsite>,
}

impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.failed_inner == other.failed_inner
            && match (self.stage, other.stage) {
                (Some(a), Some(b)) => std::ptr::eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for Frame {}

impl Frame {
    /// The fresh frame of a call of `stage`.
    #[inline]
    pub(crate) const fn of(stage: &'static StageCallsite) -> Frame {
        Frame {
            failed_inner: None,
            stage: Some(stage),
        }
    }

    /// The inner failure this stage's own error passes on, if any.
    #[inline]
    pub(crate) fn passed_on(&self) -> Option<&'static str> {
        self.failed_inner
    }
}

thread_local! {
    static FRAME: Cell<Frame> = const {
        Cell::new(Frame {
            failed_inner: None,
            stage: None,
        })
    };
}

/// The stage whose body is running here (sync stage or a poll of an
/// async one), if any.
#[inline]
pub(crate) fn current_stage() -> Option<&'static StageCallsite> {
    FRAME.try_with(|f| f.get().stage).unwrap_or(None)
}

/// Puts `frame` in place as the current stage's frame; returns the one it
/// replaces (the caller's, to put back with [`restore`]).
#[inline]
pub(crate) fn enter(frame: Frame) -> Frame {
    FRAME.try_with(|f| f.replace(frame)).unwrap_or_default()
}

/// Puts the caller's frame `outer` back; returns the frame of the stage
/// that ends or yields (what its inner calls reported).
#[inline]
pub(crate) fn restore(outer: Frame) -> Frame {
    FRAME.try_with(|f| f.replace(outer)).unwrap_or_default()
}

/// Reports the end of a stage call to the frame around it: `None` for a
/// success, the failure's `error_type` otherwise.
#[inline]
pub(crate) fn report(failed: Option<&'static str>) {
    let _ = FRAME.try_with(|f| {
        f.set(Frame {
            failed_inner: failed,
            stage: f.get().stage,
        })
    });
}

/// Forgets what the current stage's inner calls reported (a new attempt of
/// a retried stage starts from nothing).
#[inline]
pub(crate) fn clear() {
    report(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_nest_like_a_stack() {
        // An outer stage starts, an inner one starts, fails and ends.
        let caller = enter(Frame::default());
        let outer = enter(Frame::default());
        assert_eq!(
            restore(outer),
            Frame::default(),
            "nothing inside the inner call"
        );
        report(Some("io::Error"));
        // The outer stage sees the failure it passes on; its caller gets
        // its own frame back.
        assert_eq!(restore(caller).passed_on(), Some("io::Error"));
        // A success after a failure clears it.
        let caller = enter(Frame::default());
        report(Some("LoadError"));
        report(None);
        assert_eq!(restore(caller).passed_on(), None);
    }

    #[test]
    fn the_frame_names_the_running_stage_until_it_ends() {
        static OUTER: StageCallsite = StageCallsite::new("outer");
        static INNER: StageCallsite = StageCallsite::new("inner");
        assert!(current_stage().is_none());
        let caller = enter(Frame::of(&OUTER));
        let outer = enter(Frame::of(&INNER));
        assert_eq!(current_stage().map(StageCallsite::stage), Some("inner"));
        restore(outer);
        // The inner call reports to the outer frame, which keeps its stage.
        report(Some("io::Error"));
        assert_eq!(current_stage().map(StageCallsite::stage), Some("outer"));
        restore(caller);
        assert!(current_stage().is_none());
    }
}
