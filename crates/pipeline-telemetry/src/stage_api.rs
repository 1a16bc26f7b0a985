//! [`Stage`]: a stage for code that is not a `#[instrument_stage]`
//! function (a closure, a future built elsewhere, a layer's callback).

use std::fmt::Display;
use std::future::Future;

use crate::future::StageFuture;
use crate::outcome::{ErrorView, Outcome};
use crate::stage::{StageCallsite, StageGuard};

/// A named pipeline stage, declared once in a `static` and called around
/// any closure or future that returns a `Result`.
///
/// Each call does what [`#[instrument_stage]`](crate::instrument_stage)
/// does for a function (it shares the same machinery): it records
/// `pipeline.stage.duration` (seconds, `pipeline`, `stage`,
/// `status:ok|error|cancelled`), counts `pipeline.errors` once when the call
/// returns `Err` (`error_type` is the short name of `E`) or panics
/// (`error_type:panic`, and the panic goes on), marks the current run as
/// failed, and runs inside a `pipeline.stage` span, child of the current
/// run's span. The handles are resolved once per `static` and pipeline:
/// a call allocates nothing.
///
/// ```
/// use pipeline_telemetry::{PipelineRun, Stage};
///
/// static LOAD: Stage = Stage::new("load");
/// static UPLOAD: Stage = Stage::new("upload");
///
/// # #[derive(Debug)] struct WarehouseError;
/// # impl std::fmt::Display for WarehouseError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("down") }
/// # }
/// fn load(rows: &[u32]) -> Result<usize, WarehouseError> {
///     Ok(rows.len())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let run = PipelineRun::start("daily_etl", "42");
/// run.scope(async {
///     // Sync work: a closure.
///     let n = LOAD.run(|| load(&[1, 2, 3]))?;
///     // Async work: any future returning a `Result`.
///     UPLOAD.run_async(async { Ok::<_, std::io::Error>(n) }).await.ok();
///     Ok::<_, WarehouseError>(())
/// })
/// .await
/// .unwrap();
/// run.finish();
/// # });
/// ```
#[derive(Debug)]
pub struct Stage {
    pub(crate) callsite: StageCallsite,
}

impl Stage {
    /// A stage named `name` (usable in a `static`).
    pub const fn new(name: &'static str) -> Stage {
        Stage {
            callsite: StageCallsite::new(name),
        }
    }

    /// The stage's name.
    pub fn name(&self) -> &'static str {
        self.callsite.stage()
    }

    /// Runs `f` as one call of this stage, in the current run.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, unchanged; it is recorded as the stage's
    /// error (`status:error`, `error_type` from the error's type name).
    #[inline]
    pub fn run<T, E: Display>(&'static self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut guard = StageGuard::start(&self.callsite);
        let ret = {
            let _entered = guard.enter();
            f()
        };
        guard.finish(outcome(&ret));
        ret
    }

    /// Runs `fut` as one call of this stage: timed from its first poll to
    /// its completion, in the run current at its first poll. Dropped before
    /// it completes, the call is recorded as `status:cancelled` (no error).
    pub fn run_async<F, T, E>(&'static self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: Display,
    {
        StageFuture::new(
            &self.callsite,
            fut,
            outcome::<T, E> as fn(&Result<T, E>) -> Outcome<'_>,
        )
    }
}

/// The outcome of one call.
#[inline]
fn outcome<T, E: Display>(r: &Result<T, E>) -> Outcome<'_> {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(ErrorView::new(e)),
    }
}
