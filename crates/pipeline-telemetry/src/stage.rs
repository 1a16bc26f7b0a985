//! Stage call sites: the handles a `#[instrument_stage]` function caches in
//! its `static`, and what happens when a stage ends.

use std::sync::OnceLock;

use pipeline_telemetry_catalogue::{self as catalogue, status, tags};
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle};

use crate::clock::{self, Instant};
use crate::context::{self, RunKey, RunRef};
use crate::intern::PipelineName;
use crate::nesting::{self, Frame};
use crate::outcome::{ErrorView, Outcome};
use crate::run_failures::{self, Settled, StageInRun};
use crate::spans;

/// Pipelines whose handles a call site caches without any lookup.
const CACHED_PIPELINES: usize = 16;

/// The duration handles of one (stage, pipeline) pair.
#[derive(Debug)]
pub(crate) struct StageHandles {
    ok: DistributionHandle,
    error: DistributionHandle,
    cancelled: OnceLock<DistributionHandle>,
}

impl StageHandles {
    fn new(stage: &str, pipeline: Option<&str>) -> Self {
        let name = catalogue::PIPELINE_STAGE_DURATION.name;
        let reg = |st: &str| match pipeline {
            Some(p) => DistributionHandle::register(
                name,
                &[
                    (tags::PIPELINE, p),
                    (tags::STAGE, stage),
                    (tags::STATUS, st),
                ],
            ),
            None => DistributionHandle::register(name, &[(tags::STAGE, stage), (tags::STATUS, st)]),
        };
        StageHandles {
            ok: reg(status::OK),
            error: reg(status::ERROR),
            cancelled: OnceLock::new(),
        }
    }
}

/// One instrumented function: its stage name and cached handles.
#[derive(Debug)]
pub struct StageCallsite {
    stage: &'static str,
    no_run: OnceLock<StageHandles>,
    by_pipeline: [OnceLock<StageHandles>; CACHED_PIPELINES],
}

impl StageCallsite {
    /// A call site for stage `stage` (const, for a `static`).
    pub const fn new(stage: &'static str) -> Self {
        StageCallsite {
            stage,
            no_run: OnceLock::new(),
            by_pipeline: [const { OnceLock::new() }; CACHED_PIPELINES],
        }
    }

    /// The stage name.
    pub fn stage(&self) -> &'static str {
        self.stage
    }

    /// The handles for `pipeline`: an index into this call site's
    /// cache, a registry lookup (no allocation) for rarely used pipelines.
    #[inline(always)]
    fn with_handles<R>(
        &self,
        pipeline: Option<PipelineName>,
        f: impl FnOnce(&StageHandles) -> R,
    ) -> R {
        match pipeline {
            None => f(self
                .no_run
                .get_or_init(|| StageHandles::new(self.stage, None))),
            Some(p) => match self.by_pipeline.get(p.id as usize) {
                Some(slot) => f(slot.get_or_init(|| StageHandles::new(self.stage, Some(p.name)))),
                None => {
                    let (ok, error) =
                        crate::stage_cache::handles(self as *const Self as usize, p, || {
                            let h = StageHandles::new(self.stage, Some(p.name));
                            (h.ok, h.error)
                        });
                    f(&StageHandles {
                        ok,
                        error,
                        cancelled: OnceLock::new(),
                    })
                }
            },
        }
    }

    /// Opens the stage's span, a child of the current span (the run's span
    /// where the run is entered).
    #[inline]
    pub(crate) fn span(&self, run: Option<&RunRef>) -> tracing::Span {
        spans::stage_span(
            self.stage,
            run.map(|r| r.pipeline.name),
            run.map(|r| r.pipeline_id.as_str()),
        )
    }

    /// The stage's span in the current run (out of line: only taken when
    /// a subscriber may want it).
    #[inline(never)]
    fn current_span(&self) -> tracing::Span {
        context::with_current(|c| self.span(c))
    }

    /// Records the end of one call of an async stage (`inner`: what the
    /// stage calls inside it reported; `in_run`: the call in its run) and
    /// reports it to the caller's frame.
    pub(crate) fn complete(
        &self,
        run: Option<&RunRef>,
        span: &tracing::Span,
        start: Instant,
        outcome: Outcome<'_>,
        inner: Frame,
        in_run: StageInRun,
    ) {
        let secs = clock::seconds_since(start);
        let pipeline = run.map(|r| r.pipeline);
        match outcome {
            Outcome::Ok => {
                self.with_handles(pipeline, |h| h.ok.record(secs));
                nesting::report(None);
            }
            Outcome::Err(err) => {
                self.with_handles(pipeline, |h| h.error.record(secs));
                let error_type = self.failed(run, pipeline, span, err, inner, in_run);
                nesting::report(Some(error_type));
            }
        }
    }

    /// Records a stage dropped before it finished (an async stage whose
    /// future was cancelled).
    pub(crate) fn cancelled(&self, run: Option<&RunRef>, start: Instant) {
        let secs = clock::seconds_since(start);
        self.with_handles(run.map(|r| r.pipeline), |h| {
            h.cancelled
                .get_or_init(|| {
                    let name = catalogue::PIPELINE_STAGE_DURATION.name;
                    let st = (tags::STATUS, status::CANCELLED);
                    match run {
                        Some(r) => DistributionHandle::register(
                            name,
                            &[
                                (tags::PIPELINE, r.pipeline.name),
                                (tags::STAGE, self.stage),
                                st,
                            ],
                        ),
                        None => {
                            DistributionHandle::register(name, &[(tags::STAGE, self.stage), st])
                        }
                    }
                })
                .record(secs)
        });
    }

    /// A failed call: marks the span. Unless the error passes on the
    /// failure of a stage call inside this one, which was counted there
    /// (in a run: a failure of a stage inside `in_run` that the error
    /// carries; without one: the last stage call inside, `inner`), also
    /// counts `pipeline.errors`, logs the failure and marks `run` as
    /// failed. Returns the failure's `error_type` (the inner one's when
    /// passed on).
    pub(crate) fn failed(
        &self,
        run: Option<&RunRef>,
        pipeline: Option<PipelineName>,
        span: &tracing::Span,
        err: ErrorView<'_>,
        inner: Frame,
        in_run: StageInRun,
    ) -> &'static str {
        let settled = match run {
            Some(r) => r.failures.settle(&in_run, &err),
            None => match inner.passed_on() {
                Some(t) => Settled::PassedOn(t),
                None => Settled::Counted(err.error_type),
            },
        };
        let error_type = match settled {
            Settled::PassedOn(t) => {
                spans::mark_error(span, t, &err);
                return t;
            }
            Settled::Counted(t) => t,
        };
        let name = catalogue::PIPELINE_ERRORS.name;
        let counter = match pipeline {
            Some(p) => CounterHandle::register(
                name,
                &[
                    (tags::PIPELINE, p.name),
                    (tags::STAGE, self.stage),
                    (tags::ERROR_TYPE, error_type),
                ],
            ),
            None => CounterHandle::register(
                name,
                &[(tags::STAGE, self.stage), (tags::ERROR_TYPE, error_type)],
            ),
        };
        counter.increment(1);
        if let Some(r) = run {
            r.mark_failed(error_type, &err);
        }
        spans::stage_failed(span, self.stage, error_type, &err);
        error_type
    }
}

/// Times one call of a synchronous stage; records on [`finish`] or, if
/// the stage panics, on drop (as an error of type `panic`).
///
/// [`finish`]: StageGuard::finish
#[derive(Debug)]
pub struct StageGuard {
    callsite: &'static StageCallsite,
    run: Option<RunKey>,
    /// `None` when no subscriber takes INFO spans (metrics only).
    span: Option<tracing::Span>,
    start: Instant,
    /// The caller's frame, put back when the stage ends.
    outer: Frame,
    /// The call in its run (id 0: no run).
    in_run: StageInRun,
    done: bool,
}

impl StageGuard {
    /// Starts timing a call of `callsite` in the current run.
    #[inline]
    pub fn start(callsite: &'static StageCallsite) -> Self {
        // No reference count taken on the run: a sync stage ends before
        // its run does (see `RunKey`).
        let run = context::current_key();
        let in_run = match run {
            Some(_) => {
                let in_run = context::with_current(|c| {
                    c.map_or(StageInRun::default(), |r| {
                        r.failures.start(run_failures::current_stage())
                    })
                });
                run_failures::enter_stage(in_run.id);
                in_run
            }
            None => {
                crate::stray::stage_outside_runs(callsite.stage());
                StageInRun::default()
            }
        };
        // Without a subscriber that takes INFO spans (metrics only), no
        // span is built and the run's details are not read.
        let span = if tracing::level_enabled!(tracing::Level::INFO) {
            Some(callsite.current_span())
        } else {
            None
        };
        StageGuard {
            callsite,
            run,
            span,
            start: clock::now(),
            outer: nesting::enter(Frame::of(callsite)),
            in_run,
            done: false,
        }
    }

    /// The stage's span (enter it around the stage's body).
    pub fn span(&self) -> &tracing::Span {
        static NO_SPAN: tracing::Span = tracing::Span::none();
        self.span.as_ref().unwrap_or(&NO_SPAN)
    }

    /// Enters the stage's span, if it has one, until the guard is dropped.
    #[inline]
    pub fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.span.as_ref().map(tracing::Span::enter)
    }

    /// Records the call's outcome (once: later calls do nothing). Takes
    /// the guard by reference so that it is not moved on the hot path.
    #[inline]
    pub fn finish(&mut self, outcome: Outcome<'_>) {
        if !self.done {
            self.done = true;
            self.end(outcome);
        }
    }

    #[inline(always)]
    fn end(&self, outcome: Outcome<'_>) {
        let secs = clock::seconds_since(self.start);
        let inner = nesting::restore(self.outer);
        if self.in_run.id != 0 {
            run_failures::restore_stage(self.in_run.parent);
        }
        let pipeline = self.run.map(|k| k.pipeline);
        match outcome {
            Outcome::Ok => {
                self.callsite.with_handles(pipeline, |h| h.ok.record(secs));
                nesting::report(None);
            }
            Outcome::Err(err) => self.end_failed(pipeline, secs, err, inner),
        }
    }

    /// The error path of [`end`](Self::end), out of line.
    #[inline(never)]
    fn end_failed(
        &self,
        pipeline: Option<PipelineName>,
        secs: f64,
        err: ErrorView<'_>,
        inner: Frame,
    ) {
        self.callsite
            .with_handles(pipeline, |h| h.error.record(secs));
        let run = self.run.and_then(|k| k.find_current());
        let error_type =
            self.callsite
                .failed(run.as_ref(), pipeline, self.span(), err, inner, self.in_run);
        nesting::report(Some(error_type));
    }
}

impl StageGuard {
    /// The stage unwound without finishing: an error of type `panic`.
    #[cold]
    #[inline(never)]
    fn unfinished(&self) {
        let panic = ErrorView {
            error_type: "panic",
            message: crate::outcome::Message::None,
        };
        self.end(Outcome::Err(panic));
    }
}

impl Drop for StageGuard {
    #[inline]
    fn drop(&mut self) {
        if !self.done {
            self.unfinished();
        }
    }
}
