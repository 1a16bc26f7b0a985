//! The current pipeline run of this thread (or of the task being polled).
//!
//! [`PipelineRun::start`](crate::PipelineRun::start) makes its run current
//! on the calling thread; stage futures capture the run at their first poll
//! and make it current again around every poll, so a stage finds its
//! pipeline without being passed the run, wherever its task runs.

use std::cell::RefCell;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::intern::PipelineName;

/// What stages need to know of the run they belong to.
#[derive(Debug)]
pub(crate) struct RunInner {
    pub(crate) pipeline: PipelineName,
    pub(crate) pipeline_id: String,
    pub(crate) span: tracing::Span,
    pub(crate) failed: AtomicBool,
}

/// A shared reference to a run, cheap to clone.
pub(crate) type RunRef = Arc<RunInner>;

/// Which run a synchronous stage belongs to, kept without a reference
/// count: the run's pipeline (what its metrics are tagged with) and its
/// address, to find it again among the current runs when the stage fails.
/// A sync stage's run is still the current one when the stage returns
/// unless the stage itself ended it, and then there is nothing left to
/// mark as failed. The address is compared, never dereferenced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunKey {
    pub(crate) pipeline: PipelineName,
    addr: usize,
}

impl RunKey {
    #[inline]
    pub(crate) fn of(run: &RunRef) -> Self {
        RunKey {
            pipeline: run.pipeline,
            addr: Arc::as_ptr(run) as usize,
        }
    }

    /// The run this key was taken from, if it is the current run.
    pub(crate) fn find_current(&self) -> Option<RunRef> {
        with_current(|c| {
            c.filter(|r| Arc::as_ptr(r) as usize == self.addr && r.pipeline == self.pipeline)
                .cloned()
        })
    }
}

thread_local! {
    static CURRENT: RefCell<Option<RunRef>> = const { RefCell::new(None) };
}

/// Calls `f` with the current run, if any.
#[inline]
pub(crate) fn with_current<R>(mut f: impl FnMut(Option<&RunRef>) -> R) -> R {
    CURRENT
        .try_with(|c| match c.try_borrow() {
            Ok(cur) => f(cur.as_ref()),
            Err(_) => f(None),
        })
        // The thread is exiting: there is no current run any more.
        .unwrap_or_else(|_| f(None))
}

/// A clone of the current run, if any.
pub(crate) fn current() -> Option<RunRef> {
    with_current(|c| c.cloned())
}

/// Replaces the current run, returning the previous one.
pub(crate) fn replace(run: Option<RunRef>) -> Option<RunRef> {
    CURRENT
        .try_with(|c| match c.try_borrow_mut() {
            Ok(mut cur) => std::mem::replace(&mut *cur, run),
            Err(_) => None,
        })
        .unwrap_or(None)
}

/// Whether `run` is the current run of this thread.
pub(crate) fn is_current(run: &RunRef) -> bool {
    with_current(|c| c.is_some_and(|c| Arc::ptr_eq(c, run)))
}

/// Makes a run current until dropped, then restores the previous one.
#[derive(Debug)]
pub(crate) struct CurrentGuard {
    prev: Option<RunRef>,
}

impl CurrentGuard {
    pub(crate) fn set(run: Option<RunRef>) -> Self {
        CurrentGuard { prev: replace(run) }
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        replace(self.prev.take());
    }
}
