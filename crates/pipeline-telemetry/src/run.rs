//! Pipeline runs: the user-facing handle.

use std::future::Future;

use std::sync::Arc;

use crate::context::{self, RunGuard, RunRef};
use crate::error_type::error_type_name;
use crate::future::Scoped;
use crate::intern;
use crate::outcome::Outcome;
use crate::run_state::{FailReason, RunInner, RunKind};
use crate::spans;

/// One run of a pipeline: a cheap, cloneable, `Send` handle.
///
/// Starting a run counts `pipeline.runs` and opens the run's span (the
/// root of its trace). The run is **not** current anywhere until it is
/// entered, and it is current only where it is entered, never for a whole
/// thread:
///
/// - async code: [`scope`](Self::scope) wraps a future so that the run is
///   current (and its span entered) during every poll of that future, on
///   whichever worker polls it: `run.scope(async { .. }).await`, or
///   `tokio::spawn(run.scope(fut))` for another task;
/// - sync code: [`in_scope`](Self::in_scope) for a closure, or
///   [`enter`](Self::enter) for a `!Send` guard;
/// - other threads and pools (`spawn_blocking`, `std::thread`, rayon): move
///   a clone of the run there and enter it: `let run = run.clone();
///   std::thread::spawn(move || run.in_scope(|| ..))`.
///
/// Stages called where the run is current are tagged with its pipeline,
/// parented to its span, and mark it failed when they fail. Stages called
/// anywhere else (another task, a thread the run was not carried to) do not
/// see it.
///
/// End a run with [`finish`](Self::finish) or [`fail`](Self::fail). A run
/// whose last handle is dropped without either never ends `ok`: it ends
/// then, `status:failed`, and its span says why in `error.type`: `panic`,
/// [`RUN_CANCELLED`](crate::RUN_CANCELLED) when a future it was entered
/// in ([`scope`](Self::scope)) was dropped before completing (a timeout,
/// `select!`, an aborted task, a runtime shutting down), the first failed
/// stage's error type, or else [`RUN_UNFINISHED`](crate::RUN_UNFINISHED)
/// (left early, for instance through `?` on an error no stage returned).
/// Each end records `prefect.flow.duration` (seconds, tags `flow` = the
/// pipeline, `status:ok|failed`).
///
/// ```
/// use pipeline_telemetry::{instrument_stage, PipelineRun};
///
/// #[instrument_stage]
/// fn extract() -> Result<u64, std::io::Error> {
///     pipeline_telemetry::record_records(1_000);
///     Ok(1_000)
/// }
///
/// let run = PipelineRun::start("daily_etl", "42");
/// let rows = run.in_scope(extract)?;
/// run.finish();
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a run ends when its last handle is dropped; keep it for as long as its stages run"]
#[derive(Debug, Clone)]
pub struct PipelineRun {
    pub(crate) inner: RunRef,
}

impl PipelineRun {
    /// Starts a run of `pipeline` identified by `pipeline_id`: counts
    /// `pipeline.runs` and opens the run's span. It does not make the run
    /// current: enter it with [`scope`](Self::scope),
    /// [`in_scope`](Self::in_scope) or [`enter`](Self::enter).
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
    #[cfg(feature = "traces")]
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
    #[cfg(feature = "traces")]
    pub fn inject<C: crate::otel::Carrier + ?Sized>(&self, carrier: &mut C) {
        crate::otel::inject_context_with_pipeline_id(
            &self.inner.span,
            &self.inner.pipeline_id,
            carrier,
        );
    }

    fn open(pipeline: &str, pipeline_id: String, parent: impl FnOnce(&tracing::Span)) -> Self {
        Self::open_as(RunKind::Run, pipeline, pipeline_id, parent)
    }

    pub(crate) fn open_as(
        kind: RunKind,
        pipeline: &str,
        pipeline_id: String,
        parent: impl FnOnce(&tracing::Span),
    ) -> Self {
        let name = intern::intern(pipeline);
        let span = spans::run_span(name.name, &pipeline_id);
        parent(&span);
        PipelineRun {
            inner: Arc::new(RunInner::start(kind, name, pipeline_id, span)),
        }
    }

    /// The run current here (in this task's `scope`, this closure's
    /// `in_scope` or under an `enter` guard), if any: a handle to carry
    /// it into another task or thread.
    ///
    /// ```
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// let run = PipelineRun::start("daily_etl", "42");
    /// assert!(PipelineRun::current().is_none());
    /// run.in_scope(|| {
    ///     let here = PipelineRun::current().expect("entered");
    ///     std::thread::spawn(move || here.in_scope(|| { /* stages */ }))
    ///         .join()
    ///         .unwrap();
    /// });
    /// run.finish();
    /// ```
    pub fn current() -> Option<PipelineRun> {
        context::current().map(|inner| PipelineRun { inner })
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
        self.inner.has_failed()
    }

    /// Wraps `fut` so that this run is current, and its span entered,
    /// during every poll of it: the run follows the future from task to
    /// task and worker to worker, and never leaks to other tasks.
    ///
    /// ```
    /// use pipeline_telemetry::{instrument_stage, PipelineRun};
    ///
    /// #[instrument_stage]
    /// async fn load(n: usize) -> Result<usize, std::io::Error> {
    ///     Ok(n)
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let run = PipelineRun::start("daily_etl", "42");
    /// let n = run.scope(async { load(3).await }).await?;
    /// // Another task: carry the run explicitly.
    /// let m = tokio::spawn(run.scope(load(n))).await.unwrap()?;
    /// run.finish();
    /// # Ok::<(), std::io::Error>(()) }).unwrap();
    /// ```
    pub fn scope<F: Future>(&self, fut: F) -> Scoped<F> {
        Scoped::new(fut, self.inner.clone())
    }

    /// Runs `f` with this run current on this thread (for instance on a
    /// thread of a pool, with a clone of the run moved there).
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Makes this run current on this thread, and enters its span, until
    /// the returned guard is dropped. The guard is `!Send`: in async code
    /// use [`scope`](Self::scope).
    ///
    /// ```
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// let run = PipelineRun::start("nightly", "7");
    /// {
    ///     let _entered = run.enter();
    ///     assert_eq!(PipelineRun::current().map(|r| r.pipeline()), Some("nightly"));
    /// }
    /// assert!(PipelineRun::current().is_none());
    /// run.finish();
    /// ```
    ///
    /// Holding the guard across an `.await` makes the future `!Send`, so a
    /// spawned task cannot do it (the run would stay current on a worker
    /// while other tasks run there):
    ///
    /// ```compile_fail
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// # async fn f() {
    /// let run = PipelineRun::start("nightly", "7");
    /// tokio::spawn(async move {
    ///     let _entered = run.enter();
    ///     tokio::task::yield_now().await;
    /// });
    /// # }
    /// ```
    pub fn enter(&self) -> RunGuard<'_> {
        RunGuard::new(&self.inner)
    }

    /// Ends the run successfully (even if a stage failed and was retried).
    pub fn finish(self) {
        self.inner.end(false, None);
    }

    /// The `error_type` of the last failed stage call of this run: what
    /// its `pipeline.errors` or its span said (the inner stage's
    /// `error_type` when that call passed an inner failure on). `None` when
    /// no stage of the run has failed. A layer that settles a message by
    /// the failure of its stage uses it, so the settlement and the metric
    /// agree.
    pub fn last_error_type(&self) -> Option<&'static str> {
        self.inner.failures.last_error_type()
    }

    /// Ends the run as failed because of `reason`. The run's span gets the
    /// error status, `reason` as its description and `error.message`, and
    /// as `error.type` the type of the first stage error of the run (or
    /// [`RUN_FAILED`](crate::RUN_FAILED)). `pipeline.errors` is counted
    /// once for the run (`stage:run`) only when no stage failure was
    /// counted in it.
    pub fn fail(self, reason: impl std::fmt::Display) {
        let error_type = self.inner.first_error_type();
        self.inner.end(
            true,
            Some(FailReason {
                error_type: error_type.unwrap_or_else(|| crate::RUN_FAILED.to_owned()),
                message: reason.to_string(),
            }),
        );
    }

    /// Ends the run as failed because of `error`: its message and the short
    /// name of its type go on the run's span (as [`fail`](Self::fail)).
    pub fn fail_with_error<E: std::fmt::Display + ?Sized>(self, error: &E) {
        let error_type = error_type_name::<E>().to_owned();
        self.inner.end(
            true,
            Some(FailReason {
                error_type,
                message: error.to_string(),
            }),
        );
    }
}

/// Ends `run` with the outcome of the function `#[instrument_run]` wraps:
/// `finish` on success, failed with the error's message and type on `Err`.
pub fn end_run(run: PipelineRun, outcome: Outcome<'_>) {
    match outcome {
        Outcome::Ok => run.finish(),
        Outcome::Err(err) => {
            let error_type = err.error_type().to_owned();
            run.inner.end(
                true,
                Some(FailReason {
                    error_type,
                    message: err.to_string(),
                }),
            );
        }
    }
}

/// A `pipeline_id` for a run whose sender gave none: the start time in
/// microseconds and a process-wide sequence number, both hexadecimal.
pub fn fresh_pipeline_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{micros:x}-{seq:x}")
}
