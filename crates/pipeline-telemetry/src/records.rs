//! `pipeline.records`: the records a stage processed, counted without the
//! stage's name being written again as a string (a typo would silently
//! start a new series).

use pipeline_telemetry_catalogue::{self as catalogue, tags};
use pipeline_telemetry_dogstatsd::CounterHandle;

use crate::context;
use crate::nesting;
use crate::stage::StageCallsite;
use crate::{PipelineRun, Stage};

/// Counts `n` records processed by the stage whose body is running here
/// (`pipeline.records`, tagged with the current run's `pipeline` and the
/// stage's name), in a `#[instrument_stage]` function or a
/// [`Stage`] call. Outside any stage call, the records count for the run
/// itself (`stage:run`).
///
/// ```
/// use pipeline_telemetry::{instrument_stage, record_records, PipelineRun};
///
/// #[instrument_stage]
/// fn extract() -> Result<Vec<u32>, std::io::Error> {
///     let rows = vec![1, 2, 3];
///     record_records(rows.len() as u64); // pipeline.records{stage:extract}
///     Ok(rows)
/// }
///
/// let run = PipelineRun::start("daily_etl", "42");
/// run.in_scope(extract)?;
/// run.finish();
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn record_records(n: u64) {
    let stage = nesting::current_stage().map_or(catalogue::RUN_STAGE, StageCallsite::stage);
    count(context::current_key().map(|k| k.pipeline.name), stage, n);
}

impl Stage {
    /// Counts `n` records processed by this stage in the current run
    /// (`pipeline.records`), for counts known outside the stage's call.
    ///
    /// ```
    /// use pipeline_telemetry::{PipelineRun, Stage};
    ///
    /// static LOAD: Stage = Stage::new("load");
    ///
    /// let run = PipelineRun::start("daily_etl", "42");
    /// let n = run.in_scope(|| LOAD.run(|| Ok::<_, std::io::Error>(7)))?;
    /// run.in_scope(|| LOAD.record_records(n));
    /// run.finish();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn record_records(&'static self, n: u64) {
        count(
            context::current_key().map(|k| k.pipeline.name),
            self.name(),
            n,
        );
    }
}

impl PipelineRun {
    /// Counts `n` records processed by `stage` in this run
    /// (`pipeline.records`, tags `pipeline` and `stage`).
    ///
    /// ```
    /// use pipeline_telemetry::{PipelineRun, Stage};
    ///
    /// static EXTRACT: Stage = Stage::new("extract");
    ///
    /// let run = PipelineRun::start("daily_etl", "42");
    /// run.record_records(&EXTRACT, 1_000);
    /// run.finish();
    /// ```
    pub fn record_records(&self, stage: &Stage, n: u64) {
        count(Some(self.pipeline()), stage.name(), n);
    }
}

fn count(pipeline: Option<&str>, stage: &str, n: u64) {
    let name = catalogue::PIPELINE_RECORDS.name;
    match pipeline {
        Some(p) => CounterHandle::register(name, &[(tags::PIPELINE, p), (tags::STAGE, stage)]),
        None => CounterHandle::register(name, &[(tags::STAGE, stage)]),
    }
    .increment(n);
}
