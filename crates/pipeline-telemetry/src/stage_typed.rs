//! Stages whose errors name their own `error_type` tag (an exit code, a
//! signal, an HTTP status class) instead of their Rust type.

use std::fmt::Display;
use std::future::Future;

use crate::future::StageFuture;
use crate::outcome::{ErrorView, Outcome};
use crate::stage::StageGuard;
use crate::Stage;

/// An error that says which `error_type` tag of `pipeline.errors` it
/// counts under (and which `error.type` its stage's span gets). The value
/// must come from a small, fixed set (it becomes a metric tag): `exit_1`,
/// `signal_9`, `timeout`, never a message or an id.
///
/// Honoured wherever a stage ends with such an error: a
/// `#[instrument_stage]` function returning it, [`Stage::run_typed`] and
/// [`Stage::run_async_typed`], and the layer crates' stages (a
/// `ProcessStage`'s exit code, a `DbError`'s SQLSTATE class, the lapin
/// `Worker::consume_typed` handler's error). An error type that does not
/// implement it (or a foreign type, see
/// [`Stage::run_with_error_type`]) is named by
/// [`error_type_name`](crate::error_type_name).
///
/// ```
/// use pipeline_telemetry::{ErrorType, PipelineRun, Stage};
///
/// #[derive(Debug)]
/// enum Upload { Throttled, Rejected }
/// impl std::fmt::Display for Upload {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("upload failed")
///     }
/// }
/// impl ErrorType for Upload {
///     fn error_type(&self) -> &'static str {
///         match self {
///             Upload::Throttled => "throttled",
///             Upload::Rejected => "rejected",
///         }
///     }
/// }
///
/// static UPLOAD: Stage = Stage::new("upload");
/// let run = PipelineRun::start("daily_etl", "42");
/// let r = run.in_scope(|| UPLOAD.run_typed(|| Err::<(), _>(Upload::Throttled)));
/// assert!(r.is_err()); // counted as pipeline.errors{stage:upload,error_type:throttled}
/// run.finish();
/// ```
pub trait ErrorType: Display {
    /// The `error_type` tag value of this error.
    fn error_type(&self) -> &'static str;
}

impl Stage {
    /// [`run`](Stage::run), with the `error_type` tag taken from the
    /// error's [`ErrorType`] rather than its type name.
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, unchanged; it is recorded as the stage's
    /// error, tagged with its [`ErrorType::error_type`].
    #[inline]
    pub fn run_typed<T, E: ErrorType>(
        &'static self,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut guard = StageGuard::start(&self.callsite);
        let ret = {
            let _entered = guard.enter();
            f()
        };
        guard.finish(typed_outcome(&ret));
        ret
    }

    /// [`run_async`](Stage::run_async), with the `error_type` tag taken
    /// from the error's [`ErrorType`] rather than its type name.
    pub fn run_async_typed<F, T, E>(&'static self, fut: F) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: ErrorType,
    {
        StageFuture::new(
            &self.callsite,
            fut,
            typed_outcome::<T, E> as fn(&Result<T, E>) -> Outcome<'_>,
        )
    }
}

impl Stage {
    /// [`run`](Stage::run), with the `error_type` tag given by
    /// `error_type` (for an error type of another crate, which cannot
    /// implement [`ErrorType`]: `sqlx::Error`, `reqwest::Error`, ...).
    ///
    /// ```
    /// use pipeline_telemetry::{PipelineRun, Stage};
    ///
    /// fn kind(e: &std::io::Error) -> &'static str {
    ///     match e.kind() {
    ///         std::io::ErrorKind::NotFound => "not_found",
    ///         _ => "io_other",
    ///     }
    /// }
    ///
    /// static READ: Stage = Stage::new("read");
    /// let run = PipelineRun::start("daily_etl", "42");
    /// let r = run.in_scope(|| READ.run_with_error_type(|| std::fs::read("/nonexistent/x"), kind));
    /// assert!(r.is_err()); // pipeline.errors{stage:read,error_type:not_found}
    /// run.fail("read failed");
    /// ```
    ///
    /// # Errors
    ///
    /// Whatever `f` returns, unchanged; it is recorded as the stage's
    /// error, tagged with `error_type(&err)`.
    #[inline]
    pub fn run_with_error_type<T, E: Display>(
        &'static self,
        f: impl FnOnce() -> Result<T, E>,
        error_type: fn(&E) -> &'static str,
    ) -> Result<T, E> {
        let mut guard = StageGuard::start(&self.callsite);
        let ret = {
            let _entered = guard.enter();
            f()
        };
        guard.finish(classified(&ret, error_type));
        ret
    }

    /// [`run_async`](Stage::run_async), with the `error_type` tag given by
    /// `error_type` (see [`run_with_error_type`](Stage::run_with_error_type)).
    pub fn run_async_with_error_type<F, T, E>(
        &'static self,
        fut: F,
        error_type: fn(&E) -> &'static str,
    ) -> impl Future<Output = Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
        E: Display,
    {
        StageFuture::new(
            &self.callsite,
            fut,
            crate::future::outcome_fn(move |r: &Result<T, E>| classified(r, error_type)),
        )
    }
}

#[inline]
fn classified<T, E: Display>(r: &Result<T, E>, error_type: fn(&E) -> &'static str) -> Outcome<'_> {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(ErrorView {
            error_type: error_type(e),
            message: crate::outcome::Message::Display(e),
        }),
    }
}

#[inline]
fn typed_outcome<T, E: ErrorType>(r: &Result<T, E>) -> Outcome<'_> {
    match r {
        Ok(_) => Outcome::Ok,
        Err(e) => Outcome::Err(ErrorView::typed(e)),
    }
}
