//! The current pipeline run: the run of the task being polled or of the
//! closure being run, never a run left behind on a thread.
//!
//! A run becomes current only for the extent of an entry: a poll of
//! [`Scoped`](crate::Scoped) (`run.scope(fut)`), a [`RunGuard`]
//! (`run.enter()`) or `run.in_scope(f)`. Each entry restores what was
//! current before when it ends, so when a task yields, nothing of its run
//! stays on the worker thread for the next task polled there.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::Arc;

use crate::run_state::RunInner;

/// A shared reference to a run, cheap to clone.
pub(crate) type RunRef = Arc<RunInner>;

/// Which run a synchronous stage belongs to, kept without a reference
/// count: the run's pipeline (what its metrics are tagged with) and its
/// address, to find it again among the current runs when the stage fails.
/// A sync stage's run is still the current one when the stage returns
/// (the entry that made it current outlives the call). The address is
/// compared, never dereferenced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunKey {
    pub(crate) pipeline: crate::intern::PipelineName,
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
    /// A copy of [`RunKey::of`] the current run, kept beside it so that the
    /// stage hot path reads one plain thread-local cell (no destructor to
    /// register, no borrow flag, no reference count).
    static CURRENT_KEY: Cell<Option<RunKey>> = const { Cell::new(None) };
}

/// The key of the current run, if any: what a stage's metrics need.
#[inline]
pub(crate) fn current_key() -> Option<RunKey> {
    CURRENT_KEY.try_with(Cell::get).unwrap_or(None)
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
#[inline]
pub(crate) fn current() -> Option<RunRef> {
    with_current(|c| c.cloned())
}

/// Replaces the current run, returning the previous one.
fn replace(run: Option<RunRef>) -> Option<RunRef> {
    let key = run.as_ref().map(RunKey::of);
    CURRENT
        .try_with(|c| match c.try_borrow_mut() {
            Ok(mut cur) => {
                let _ = CURRENT_KEY.try_with(|k| k.set(key));
                std::mem::replace(&mut *cur, run)
            }
            Err(_) => None,
        })
        .unwrap_or(None)
}

/// Makes a run current on this thread until dropped, then restores the
/// previous one. `!Send`: it must be dropped on the thread that made it.
#[derive(Debug)]
pub(crate) struct CurrentGuard {
    prev: Option<RunRef>,
    _not_send: PhantomData<*const ()>,
}

impl CurrentGuard {
    #[inline]
    pub(crate) fn set(run: Option<RunRef>) -> Self {
        CurrentGuard {
            prev: replace(run),
            _not_send: PhantomData,
        }
    }
}

impl Drop for CurrentGuard {
    #[inline]
    fn drop(&mut self) {
        // The replaced value (this guard's run) is dropped here, after the
        // thread-local borrow ended: dropping the last reference to a run
        // ends it, which may read the current run again.
        let _mine = replace(self.prev.take());
    }
}

/// While a run is entered with [`PipelineRun::enter`](crate::PipelineRun::enter):
/// the run is current on this thread and its span is entered. Dropping it
/// restores what was current before.
///
/// `!Send`, like a `MutexGuard`: a task that holds it across an `.await`
/// cannot be spawned on a multi-thread runtime. Async code uses
/// [`PipelineRun::scope`](crate::PipelineRun::scope) instead.
#[must_use = "the run is current only while this guard lives"]
#[derive(Debug)]
pub struct RunGuard<'a> {
    run: &'a RunRef,
    // Drop order: the span is exited before the run stops being current.
    _entered: tracing::span::Entered<'a>,
    _current: CurrentGuard,
    panicking: bool,
}

impl<'a> RunGuard<'a> {
    pub(crate) fn new(run: &'a RunRef) -> Self {
        let current = CurrentGuard::set(Some(run.clone()));
        RunGuard {
            run,
            _entered: run.span.enter(),
            _current: current,
            panicking: std::thread::panicking(),
        }
    }
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        if !self.panicking && std::thread::panicking() {
            // The code that entered the run is unwinding: the run failed.
            self.run.mark_failed("panic", &"panicked");
        }
    }
}
