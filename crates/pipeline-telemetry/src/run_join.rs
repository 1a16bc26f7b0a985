//! Parts of a run: the work another process does for a run that was
//! started (and is counted) elsewhere.

#[cfg(feature = "traces")]
use crate::run::fresh_pipeline_id;
use crate::run::PipelineRun;
use crate::run_state::RunKind;

impl PipelineRun {
    /// Joins, as a part of it, the run that another process started and
    /// sent in `carrier` (message or request headers written by
    /// [`inject`](Self::inject)): for a consumer or a server whose work is
    /// a stage of the sender's run, not a run of its own.
    ///
    /// A part is entered and ended like a run ([`scope`](Self::scope),
    /// [`finish`](Self::finish), ...): its span continues the sender's
    /// trace, it keeps the sender's `pipeline_id` (a fresh one when the
    /// carrier has none), its stages are tagged with `pipeline` and count
    /// their failures as usual, and a part that fails without a counted
    /// stage failure counts one `pipeline.errors{stage:run}`. Unlike
    /// [`continue_from`](Self::continue_from), it counts no
    /// `pipeline.runs` and records no `prefect.flow.duration`: the
    /// sender's run counts those once.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// // Producer: one run, counted here.
    /// let run = PipelineRun::start("ingest", "run-7");
    /// let mut headers: BTreeMap<String, String> = BTreeMap::new();
    /// run.inject(&mut headers);
    /// run.finish();
    ///
    /// // Consumer: the same run's trace and pipeline_id, no second run.
    /// let part = PipelineRun::join("ingest", &headers);
    /// assert!(part.is_part());
    /// assert_eq!(part.pipeline_id(), "run-7");
    /// part.finish();
    /// ```
    #[cfg(feature = "traces")]
    pub fn join<C: crate::otel::Carrier + ?Sized>(pipeline: &str, carrier: &C) -> Self {
        let remote = crate::otel::extract(carrier);
        let pipeline_id = remote.pipeline_id.clone().unwrap_or_else(fresh_pipeline_id);
        Self::open_as(RunKind::Part, pipeline, pipeline_id, |span| {
            // No (valid) remote context: the part starts a new trace.
            let _ = remote.set_parent(span);
        })
    }

    /// Joins, as a part of it, run `pipeline_id` of `pipeline` that was
    /// started elsewhere (see [`join`](Self::join)); its span is a child
    /// of the current span, for instance a request span that already
    /// continues the caller's trace.
    ///
    /// ```
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// let part = PipelineRun::join_id("ingest", "run-7");
    /// assert!(part.is_part());
    /// part.finish();
    /// ```
    pub fn join_id(pipeline: &str, pipeline_id: impl std::fmt::Display) -> Self {
        Self::open_as(RunKind::Part, pipeline, pipeline_id.to_string(), |_| {})
    }

    /// Whether this handle is a part of a run started elsewhere
    /// ([`join`](Self::join), [`join_id`](Self::join_id)) rather than a
    /// run of its own.
    pub fn is_part(&self) -> bool {
        self.inner.kind == RunKind::Part
    }
}
