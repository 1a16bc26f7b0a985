//! Futures: an async stage timed from its first poll to completion, and a
//! future that carries a pipeline run into another task.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::clock::{self, Instant};
use crate::context;
use crate::context::{CurrentGuard, RunRef};
use crate::nesting::{self, Frame};
use crate::outcome::{ErrorView, Outcome};
use crate::run_failures::{self, StageInRun};
use crate::stage::StageCallsite;

/// Ensures a closure is higher-ranked over the borrow of the output, so
/// the macro can pass its outcome probe as a closure.
#[inline]
pub fn outcome_fn<T, F>(f: F) -> F
where
    F: for<'a> Fn(&'a T) -> Outcome<'a>,
{
    f
}

struct Started {
    run: Option<RunRef>,
    span: tracing::Span,
    start: Instant,
    /// The call in its run (id 0: no run).
    in_run: StageInRun,
}

pin_project! {
    /// An async stage: wall time from first poll to completion; the run
    /// captured at the first poll is current, and the stage's span entered,
    /// during every poll. Dropped before completion, it records the stage
    /// as `cancelled`.
    #[must_use = "futures do nothing unless polled"]
    pub struct StageFuture<F, P> {
        #[pin]
        inner: F,
        callsite: &'static StageCallsite,
        probe: P,
        started: Option<Started>,
        // What the stage calls inside this one reported, between polls.
        frame: Frame,
        done: bool,
    }

    impl<F, P> PinnedDrop for StageFuture<F, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let (Some(s), false) = (this.started.as_ref(), *this.done) {
                this.callsite.cancelled(s.run.as_ref(), s.start);
            }
        }
    }
}

impl<F, P> std::fmt::Debug for StageFuture<F, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageFuture")
            .field("stage", &self.callsite.stage())
            .finish_non_exhaustive()
    }
}

impl<F, P> StageFuture<F, P>
where
    F: Future,
    P: for<'a> Fn(&'a F::Output) -> Outcome<'a>,
{
    /// Wraps the body of an async stage.
    pub fn new(callsite: &'static StageCallsite, inner: F, probe: P) -> Self {
        StageFuture {
            inner,
            callsite,
            probe,
            started: None,
            frame: Frame::of(callsite),
            done: false,
        }
    }
}

impl<F, P> Future for StageFuture<F, P>
where
    F: Future,
    P: for<'a> Fn(&'a F::Output) -> Outcome<'a>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if *this.done {
            // Polled after completion: the inner future decides (usually a panic
            // of its own); nothing more to record.
            return this.inner.poll(cx);
        }
        let started = this.started.get_or_insert_with(|| {
            let run = context::current();
            if run.is_none() {
                crate::stray::stage_outside_runs(this.callsite.stage());
            }
            let span = this.callsite.span(run.as_ref());
            let in_run = run.as_ref().map_or(StageInRun::default(), |r| {
                r.failures.start(run_failures::current_stage())
            });
            Started {
                run,
                span,
                start: clock::now(),
                in_run,
            }
        });
        let _current = CurrentGuard::set(started.run.clone());
        let inner = this.inner;
        let span = &started.span;
        let outer = nesting::enter(*this.frame);
        let in_run = started.in_run;
        let outer_stage = (in_run.id != 0).then(|| run_failures::enter_stage(in_run.id));
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let _enter = span.enter();
            inner.poll(cx)
        }));
        if let Some(prev) = outer_stage {
            run_failures::restore_stage(prev);
        }
        *this.frame = nesting::restore(outer);
        let poll = match polled {
            Ok(poll) => poll,
            Err(payload) => {
                // The stage panicked during this poll: an error of type
                // `panic`, then the panic goes on (the runtime sees it).
                *this.done = true;
                let message = panic_message(&payload);
                this.callsite.complete(
                    started.run.as_ref(),
                    &started.span,
                    started.start,
                    Outcome::Err(ErrorView::panic(&message)),
                    *this.frame,
                    started.in_run,
                );
                resume_unwind(payload)
            }
        };
        if let Poll::Ready(out) = &poll {
            *this.done = true;
            this.callsite.complete(
                started.run.as_ref(),
                &started.span,
                started.start,
                (this.probe)(out),
                *this.frame,
                started.in_run,
            );
        }
        poll
    }
}

pin_project! {
    /// A future that runs with a pipeline run as its current run, so the
    /// stages it awaits are tagged with that run's pipeline and parented to
    /// its span, on whichever thread it is polled. See
    /// [`PipelineRun::scope`](crate::PipelineRun::scope), which makes it
    /// (as tracing's `instrument` makes `Instrumented`).
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        #[pin]
        inner: F,
        run: RunRef,
        // The stage call of the run this future was made in (0: none), the
        // parent of the stages it runs.
        parent_stage: u64,
        done: bool,
    }

    impl<F> PinnedDrop for Scoped<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if !*this.done {
                // Dropped before it completed: if the run now ends without
                // `finish`, it was cancelled.
                this.run.mark_cancelled();
            }
        }
    }
}

/// The former name of [`Scoped`].
#[deprecated(
    since = "0.1.0",
    note = "renamed `Scoped`, after `PipelineRun::scope` which makes it"
)]
pub type InRun<F> = Scoped<F>;

impl<F> Scoped<F> {
    pub(crate) fn new(inner: F, run: RunRef) -> Self {
        Scoped {
            inner,
            run,
            parent_stage: run_failures::current_stage(),
            done: false,
        }
    }
}

impl<F> std::fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field("pipeline", &self.run.pipeline.name)
            .finish_non_exhaustive()
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let run = &*this.run;
        let _current = CurrentGuard::set(Some(run.clone()));
        let inner = this.inner;
        let prev_stage = run_failures::enter_stage(*this.parent_stage);
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let _enter = run.span.enter();
            inner.poll(cx)
        }));
        run_failures::restore_stage(prev_stage);
        match polled {
            Ok(poll) => {
                if poll.is_ready() {
                    *this.done = true;
                }
                poll
            }
            Err(payload) => {
                // Not cancelled: it panicked (and the panic is the reason).
                *this.done = true;
                // The run's code panicked: the run failed, the panic goes on.
                run.mark_failed("panic", &panic_message(&payload));
                resume_unwind(payload)
            }
        }
    }
}

/// The message of a panic payload (`panic!("..")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "panicked"
    }
}
