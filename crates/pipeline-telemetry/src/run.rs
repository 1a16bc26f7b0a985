//! Pipeline runs.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use pipeline_telemetry_dogstatsd::{AlertType, CheckStatus, Event, ServiceCheck};
use std::sync::Arc;

use pipeline_telemetry_catalogue::{self as catalogue, tags};
use pipeline_telemetry_dogstatsd::CounterHandle;
use tracing::field::Empty;

use crate::context::{self, RunInner, RunRef};
use crate::future::InRun;
use crate::intern;

/// Whether runs send a service check and, when failed, an event.
pub(crate) static RUN_EVENTS: AtomicBool = AtomicBool::new(false);

/// The service check sent at the end of each run when run events are on.
pub const RUN_SERVICE_CHECK: &str = "pipeline.run";

/// `error_type` of the `pipeline.errors` point counted for a failed run.
pub const RUN_FAILED: &str = "run_failed";
/// `stage` of the `pipeline.errors` point counted for a failed run.
pub const RUN_STAGE: &str = "run";

/// One run of a pipeline.
///
/// Starting a run counts `pipeline.runs`, opens the run's span (the root of
/// its trace) and makes the run current on this thread, so the stages
/// called from here on are tagged with its pipeline without being passed
/// the run. Finish it with [`finish`](Self::finish); a run dropped after a
/// stage failed (for instance when `?` returns early) counts as failed.
///
/// ```
/// use pipeline_telemetry::PipelineRun;
///
/// let run = PipelineRun::start("daily_etl", "42");
/// run.record_records("extract", 1_000);
/// run.finish();
/// ```
#[must_use = "a run ends when it is dropped; keep it for as long as its stages run"]
#[derive(Debug)]
pub struct PipelineRun {
    inner: RunRef,
    prev: Option<RunRef>,
    ended: bool,
}

impl PipelineRun {
    /// Starts a run of `pipeline` identified by `pipeline_id`.
    pub fn start(pipeline: &str, pipeline_id: impl std::fmt::Display) -> Self {
        Self::open(pipeline, pipeline_id.to_string(), |_| {})
    }

    /// Starts a run of `pipeline` that continues the trace and the
    /// `pipeline_id` another process sent in `carrier` (message or request
    /// headers written by [`inject`](Self::inject)).
    ///
    /// The run's span becomes a child of the remote span, so both processes'
    /// stages show in one trace, and the run takes the remote `pipeline_id`
    /// from the W3C baggage. Headers that are missing, malformed or hostile
    /// never panic: the run then starts a new trace under a fresh
    /// `pipeline_id`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// // Producer side.
    /// let run = PipelineRun::start("ingest", "run-7");
    /// let mut headers: BTreeMap<String, String> = BTreeMap::new();
    /// run.inject(&mut headers);
    /// run.finish();
    ///
    /// // Consumer side (another process, after the message arrived).
    /// let consumer = PipelineRun::continue_from("ingest_consumer", &headers);
    /// consumer.finish();
    /// ```
    #[cfg(feature = "otlp")]
    pub fn continue_from<C: crate::otel::Carrier + ?Sized>(pipeline: &str, carrier: &C) -> Self {
        let remote = crate::otel::extract(carrier);
        let pipeline_id = remote.pipeline_id.clone().unwrap_or_else(fresh_pipeline_id);
        Self::open(pipeline, pipeline_id, |span| {
            // No (valid) remote context: the run starts a new trace.
            let _ = remote.set_parent(span);
        })
    }

    /// Writes this run's trace context (`traceparent`, `tracestate`) and its
    /// `pipeline_id` (as W3C `baggage`) into `carrier`, for a process that
    /// goes on with [`continue_from`](Self::continue_from).
    #[cfg(feature = "otlp")]
    pub fn inject<C: crate::otel::Carrier + ?Sized>(&self, carrier: &mut C) {
        crate::otel::inject_context_with_pipeline_id(
            &self.inner.span,
            &self.inner.pipeline_id,
            carrier,
        );
    }

    fn open(pipeline: &str, pipeline_id: String, parent: impl FnOnce(&tracing::Span)) -> Self {
        let name = intern::intern(pipeline);
        CounterHandle::register(
            catalogue::PIPELINE_RUNS.name,
            &[(tags::PIPELINE, name.name)],
        )
        .increment(1);
        let span = tracing::info_span!(
            target: "pipeline_telemetry",
            "pipeline.run",
            pipeline = name.name,
            pipeline_id = pipeline_id.as_str(),
            "operation.name" = "pipeline.run",
            "resource.name" = name.name,
            otel.status_code = Empty,
            otel.status_description = Empty,
        );
        parent(&span);
        let inner = Arc::new(RunInner {
            pipeline: name,
            pipeline_id,
            span,
            failed: AtomicBool::new(false),
        });
        let prev = context::replace(Some(inner.clone()));
        PipelineRun {
            inner,
            prev,
            ended: false,
        }
    }

    /// The pipeline's name.
    pub fn pipeline(&self) -> &'static str {
        self.inner.pipeline.name
    }

    /// This run's id.
    pub fn pipeline_id(&self) -> &str {
        &self.inner.pipeline_id
    }

    /// The run's span, parent of its stages' spans.
    pub fn span(&self) -> &tracing::Span {
        &self.inner.span
    }

    /// Whether a stage of this run has failed.
    pub fn has_failed(&self) -> bool {
        self.inner.failed.load(Ordering::Relaxed)
    }

    /// Counts `n` records processed by `stage` (`pipeline.records`).
    pub fn record_records(&self, stage: &str, n: u64) {
        CounterHandle::register(
            catalogue::PIPELINE_RECORDS.name,
            &[
                (tags::PIPELINE, self.inner.pipeline.name),
                (tags::STAGE, stage),
            ],
        )
        .increment(n);
    }

    /// Runs `fut` with this run current, e.g. on a spawned task:
    /// `tokio::spawn(run.scope(async { load().await }))`.
    pub fn scope<F: Future>(&self, fut: F) -> InRun<F> {
        InRun::new(fut, self.inner.clone())
    }

    /// Runs `f` with this run current on this thread (e.g. a thread of a pool).
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _current = context::CurrentGuard::set(Some(self.inner.clone()));
        let _enter = self.inner.span.enter();
        f()
    }

    /// Ends the run successfully (even if a stage failed and was retried).
    pub fn finish(mut self) {
        self.end(false);
    }

    /// Ends the run as failed: counts `pipeline.errors` with
    /// `stage:run`, `error_type:run_failed` and marks the run's span.
    pub fn fail(mut self, reason: impl std::fmt::Display) {
        self.inner.span.record("otel.status_code", "error");
        self.inner
            .span
            .record("otel.status_description", tracing::field::display(&reason));
        self.end(true);
    }

    fn end(&mut self, failed: bool) {
        if self.ended {
            return;
        }
        self.ended = true;
        if failed {
            CounterHandle::register(
                catalogue::PIPELINE_ERRORS.name,
                &[
                    (tags::PIPELINE, self.inner.pipeline.name),
                    (tags::STAGE, RUN_STAGE),
                    (tags::ERROR_TYPE, RUN_FAILED),
                ],
            )
            .increment(1);
            tracing::error!(
                target: "pipeline_telemetry",
                parent: &self.inner.span,
                outcome = "failed",
                "pipeline run failed"
            );
        }
        if RUN_EVENTS.load(Ordering::Relaxed) {
            self.send_run_events(failed);
        }
        if context::is_current(&self.inner) {
            context::replace(self.prev.take());
        }
    }
}

impl PipelineRun {
    fn send_run_events(&self, failed: bool) {
        let name = self.inner.pipeline.name;
        let status = if failed {
            CheckStatus::Critical
        } else {
            CheckStatus::Ok
        };
        let mut check = ServiceCheck::new(RUN_SERVICE_CHECK, status).with_tag(tags::PIPELINE, name);
        if failed {
            check = check.with_message(&format!("run {} of {name} failed", self.inner.pipeline_id));
            pipeline_telemetry_dogstatsd::send_event(
                Event::new(
                    format!("Pipeline {name} failed"),
                    format!("Run {} failed.", self.inner.pipeline_id),
                )
                .with_alert_type(AlertType::Error)
                .with_aggregation_key(name)
                .with_source_type("pipeline")
                .with_tag(tags::PIPELINE, name)
                .with_tag(tags::PIPELINE_ID, &self.inner.pipeline_id),
            );
        }
        pipeline_telemetry_dogstatsd::send_service_check(check);
    }
}

impl Drop for PipelineRun {
    fn drop(&mut self) {
        if !self.ended {
            let failed = self.has_failed() || std::thread::panicking();
            if failed {
                self.inner.span.record("otel.status_code", "error");
            }
            self.end(failed);
        }
    }
}

/// A `pipeline_id` for a run whose sender gave none: the start time in
/// microseconds and a process-wide sequence number, both hexadecimal.
#[cfg(feature = "otlp")]
fn fresh_pipeline_id() -> String {
    use std::sync::atomic::AtomicU64;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{micros:x}-{seq:x}")
}
