//! The state of one run shared by its handles, and what its end emits.

use std::fmt::{self, Display};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use pipeline_telemetry_catalogue::{self as catalogue, status, tags};
use pipeline_telemetry_dogstatsd::{
    AlertType, CheckStatus, CounterHandle, DistributionHandle, Event, ServiceCheck,
};

use crate::clock::{self, Instant};
use crate::intern::PipelineName;
use crate::run_failures::RunFailures;
use crate::spans;

/// Whether runs send a service check and, when failed, an event.
pub(crate) static RUN_EVENTS: AtomicBool = AtomicBool::new(false);

/// The service check sent at the end of each run when run events are on.
pub const RUN_SERVICE_CHECK: &str = "pipeline.run";

/// `error.type` of a failed run's span when nothing said why it failed.
pub const RUN_FAILED: &str = "run_failed";

/// `error.type` of a run that ended because its code was cancelled: a
/// future entered with [`scope`](crate::PipelineRun::scope) (or an
/// `#[instrument_run]` function) dropped before it completed (a timeout,
/// `select!`, `JoinHandle::abort`, a runtime shutting down), and the run
/// dropped without [`finish`](crate::PipelineRun::finish). The run ends
/// `status:failed`.
pub const RUN_CANCELLED: &str = "run_cancelled";

/// `error.type` of a run whose last handle was dropped without
/// [`finish`](crate::PipelineRun::finish) or [`fail`](crate::PipelineRun::fail)
/// while none of its stages had failed (for instance left through `?` on
/// an error that no stage returned). The run ends `status:failed`.
pub const RUN_UNFINISHED: &str = "run_unfinished";

/// Whether a run handle is a run of its own or a part of another
/// process's run (see [`PipelineRun::join`](crate::PipelineRun::join_id)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// A run: counts `pipeline.runs` and `prefect.flow.duration`.
    Run,
    /// A part of a run another process started and counts.
    Part,
}

/// Why a run failed: the first stage error (or panic) of the run, or the
/// error the run was ended with.
#[derive(Debug, Clone)]
pub(crate) struct FailReason {
    pub(crate) error_type: String,
    pub(crate) message: String,
}

/// One run, shared by its [`PipelineRun`](crate::PipelineRun) handles and
/// the stages and futures that run in it. Ends once: at `finish`/`fail`,
/// or when the last handle is dropped.
#[derive(Debug)]
pub(crate) struct RunInner {
    pub(crate) pipeline: PipelineName,
    pub(crate) pipeline_id: String,
    pub(crate) span: tracing::Span,
    pub(crate) kind: RunKind,
    start: Instant,
    failed: AtomicBool,
    /// A future of the run was dropped before it completed.
    cancelled: AtomicBool,
    ended: AtomicBool,
    reason: OnceLock<FailReason>,
    /// The stage failures recorded in the run (one failure, one count).
    pub(crate) failures: RunFailures,
}

impl RunInner {
    /// Starts a run: counts `pipeline.runs` (not for a part of a run).
    pub(crate) fn start(
        kind: RunKind,
        pipeline: PipelineName,
        pipeline_id: String,
        span: tracing::Span,
    ) -> Self {
        crate::stray::run_started();
        if kind == RunKind::Run {
            CounterHandle::register(
                catalogue::PIPELINE_RUNS.name,
                &[(tags::PIPELINE, pipeline.name)],
            )
            .increment(1);
        }
        RunInner {
            pipeline,
            pipeline_id,
            span,
            kind,
            start: clock::now(),
            failed: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            reason: OnceLock::new(),
            failures: RunFailures::default(),
        }
    }

    /// Whether a stage of this run failed (or it was marked failed).
    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Marks the run as failed; the first reason given is kept.
    pub(crate) fn mark_failed(&self, error_type: &str, message: &dyn Display) {
        self.failed.store(true, Ordering::Relaxed);
        if self.reason.get().is_none() {
            let _ = self.reason.set(FailReason {
                error_type: error_type.to_owned(),
                message: message.to_string(),
            });
        }
    }

    /// Notes that a future of the run was dropped before it completed: if
    /// the run is then dropped without `finish`, it was cancelled.
    pub(crate) fn mark_cancelled(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// The error type of the first failure of the run, if any.
    pub(crate) fn first_error_type(&self) -> Option<String> {
        self.reason.get().map(|r| r.error_type.clone())
    }

    /// Ends the run (once): `prefect.flow.duration` with its status, the
    /// span's error and reason when failed, the run events when enabled.
    /// A failed run in which no stage failure was counted counts one
    /// `pipeline.errors` itself (`stage:run`, the run's `error_type`).
    /// `own` is the error the run was ended with, if any.
    pub(crate) fn end(&self, failed: bool, own: Option<FailReason>) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        crate::stray::run_ended();
        let failed = failed || own.is_some();
        if self.kind == RunKind::Run {
            let secs = clock::seconds_since(self.start);
            let st = if failed { status::FAILED } else { status::OK };
            DistributionHandle::register(
                catalogue::PREFECT_FLOW_DURATION.name,
                &[(tags::FLOW, self.pipeline.name), (tags::STATUS, st)],
            )
            .record(secs);
        }
        if failed {
            let reason = own.or_else(|| self.reason.get().cloned());
            if !self.failures.any() {
                // No stage counted this failure: the run counts it, so that
                // a monitor on `pipeline.errors` sees every failed run.
                let error_type = reason.as_ref().map_or(RUN_FAILED, |r| &r.error_type);
                CounterHandle::register(
                    catalogue::PIPELINE_ERRORS.name,
                    &[
                        (tags::PIPELINE, self.pipeline.name),
                        (tags::STAGE, catalogue::RUN_STAGE),
                        (tags::ERROR_TYPE, error_type),
                    ],
                )
                .increment(1);
            }
            match &reason {
                Some(r) => spans::run_failed(&self.span, Some(&r.error_type), &r.message),
                None => spans::run_failed(&self.span, None, &Failed(&self.pipeline_id)),
            }
        }
        if self.kind == RunKind::Run && RUN_EVENTS.load(Ordering::Relaxed) {
            self.send_run_events(failed);
        }
    }

    fn send_run_events(&self, failed: bool) {
        let name = self.pipeline.name;
        let status = if failed {
            CheckStatus::Critical
        } else {
            CheckStatus::Ok
        };
        let mut check = ServiceCheck::new(RUN_SERVICE_CHECK, status).with_tag(tags::PIPELINE, name);
        if failed {
            check = check.with_message(&format!("run {} of {name} failed", self.pipeline_id));
            pipeline_telemetry_dogstatsd::send_event(
                Event::new(
                    format!("Pipeline {name} failed"),
                    format!("Run {} failed.", self.pipeline_id),
                )
                .with_alert_type(AlertType::Error)
                .with_aggregation_key(name)
                .with_source_type("pipeline")
                .with_tag(tags::PIPELINE, name)
                .with_tag(tags::PIPELINE_ID, &self.pipeline_id),
            );
        }
        pipeline_telemetry_dogstatsd::send_service_check(check);
    }
}

impl Drop for RunInner {
    fn drop(&mut self) {
        if self.ended.load(Ordering::Acquire) {
            return;
        }
        // The last handle is gone without `finish`/`fail`: the run never
        // said it succeeded, so it failed. Why, in this order: this thread
        // is unwinding; a future of the run was dropped before it
        // completed (cancelled); a stage failed; nothing said (left early).
        let reason = if std::thread::panicking() && self.reason.get().is_none() {
            Some(FailReason {
                error_type: "panic".to_owned(),
                message: "panicked".to_owned(),
            })
        } else if std::thread::panicking() {
            None
        } else if self.cancelled.load(Ordering::Relaxed) {
            Some(FailReason {
                error_type: RUN_CANCELLED.to_owned(),
                message: format!(
                    "pipeline run {} was cancelled before it finished",
                    self.pipeline_id
                ),
            })
        } else if self.reason.get().is_some() {
            None
        } else {
            Some(FailReason {
                error_type: RUN_UNFINISHED.to_owned(),
                message: format!(
                    "pipeline run {} was dropped without finish() or fail()",
                    self.pipeline_id
                ),
            })
        };
        self.end(true, reason);
    }
}

/// The message of a run failed without a reason.
struct Failed<'a>(&'a str);

impl Display for Failed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pipeline run {} failed", self.0)
    }
}
