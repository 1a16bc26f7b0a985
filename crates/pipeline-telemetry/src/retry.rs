//! Retries as part of a stage: the policy, one attempt, the attempt span
//! and the retry counter.
//!
//! The attempt loops live in `retry_loop.rs`; the backoff in `backoff.rs`;
//! the runtime-agnostic sleep in `timer.rs`.

use std::fmt::{self, Display};
use std::sync::Arc;
use std::time::Duration;

use pipeline_telemetry_catalogue::{self as catalogue, tags};
use pipeline_telemetry_dogstatsd::CounterHandle;
use tracing::field::Empty;

use crate::backoff::Backoff;
use crate::context;

/// The span name (and Datadog operation name) of one attempt.
pub const ATTEMPT_SPAN: &str = "pipeline.stage.attempt";

/// Longest previous-failure reason put on an attempt's span.
const MAX_REASON: usize = 512;

type Predicate<E> = dyn Fn(&E) -> bool + Send + Sync;

/// Turns a timed-out attempt into the stage's error.
type TimedOut<E> = fn(AttemptTimeout) -> E;

/// How a stage is retried: attempts, backoff, a per-attempt timeout and
/// which errors are worth another attempt.
///
/// Use it on a closure or a future ([`run`](Self::run),
/// [`run_async`](Self::run_async)), or on a function with
/// `#[instrument_stage(retry(...))]` / `#[instrument_stage(retry = POLICY)]`
/// (see [`instrument_stage`](crate::instrument_stage)).
///
/// Each attempt is a `pipeline.stage.attempt` span under the stage's span
/// (attributes `attempt`, `retry.max`, and `retry.previous_error` from the
/// second attempt on); the stage records one `pipeline.stage.duration` over
/// all attempts with the final status; only a final failure counts
/// `pipeline.errors`; each retry counts `pipeline.stage.retries{pipeline,stage}`.
/// Attempt numbers are never metric tags.
///
/// ```
/// use std::time::Duration;
/// use pipeline_telemetry::{Backoff, PipelineRun, RetryPolicy, Stage};
///
/// static EXTRACT: Stage = Stage::new("extract");
///
/// let policy = RetryPolicy::new(3)
///     .with_backoff(Backoff::fixed(Duration::from_millis(1)))
///     .retry_if(|e: &std::io::Error| e.kind() != std::io::ErrorKind::PermissionDenied);
/// let run = PipelineRun::start("daily_etl", "42");
/// let rows = policy.run(&EXTRACT, &run, |attempt| {
///     if attempt.number() < 3 {
///         Err(std::io::Error::other("connection reset"))
///     } else {
///         Ok(1_000)
///     }
/// });
/// assert_eq!(rows.ok(), Some(1_000));
/// run.finish();
/// ```
///
/// The same on a stage function, sync or async (each attempt runs the
/// body again with its own clone of the arguments):
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use pipeline_telemetry::{instrument_stage, PipelineRun};
///
/// #[instrument_stage(stage = "extract", retry(attempts = 3, backoff = "fixed", base_ms = 1))]
/// fn extract(calls: &AtomicU32, table: String) -> Result<usize, std::io::Error> {
///     if calls.fetch_add(1, Ordering::Relaxed) < 2 {
///         return Err(std::io::Error::other(format!("{table}: connection reset")));
///     }
///     Ok(table.len())
/// }
///
/// #[instrument_stage(retry(attempts = 2, base_ms = 10, max_ms = 1000, timeout_ms = 5000))]
/// async fn upload(rows: Vec<u32>) -> Result<usize, std::io::Error> {
///     Ok(rows.len())
/// }
///
/// let run = PipelineRun::start("daily_etl", "42");
/// let calls = AtomicU32::new(0);
/// assert_eq!(run.in_scope(|| extract(&calls, "orders".into())).ok(), Some(6));
/// assert_eq!(calls.load(Ordering::Relaxed), 3); // two retries
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(run.scope(upload(vec![1, 2])).await.ok(), Some(2));
/// # });
/// run.finish();
/// ```
pub struct RetryPolicy<E> {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) attempt_timeout: Option<(Duration, TimedOut<E>)>,
    retryable: Option<Arc<Predicate<E>>>,
}

impl<E> Clone for RetryPolicy<E> {
    fn clone(&self) -> Self {
        RetryPolicy {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            attempt_timeout: self.attempt_timeout,
            retryable: self.retryable.clone(),
        }
    }
}

impl<E> fmt::Debug for RetryPolicy<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("attempt_timeout", &self.attempt_timeout.map(|t| t.0))
            .field("retryable", &self.retryable.is_some())
            .finish()
    }
}

/// One attempt of a retried stage, given to the closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub(crate) number: u32,
    pub(crate) max: u32,
}

impl Attempt {
    /// 1 for the first attempt.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The policy's number of attempts.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Whether no attempt follows this one.
    pub fn is_last(&self) -> bool {
        self.number >= self.max
    }
}

/// An attempt ran past the policy's per-attempt timeout (and was dropped).
#[derive(Debug, Clone, thiserror::Error)]
#[error("attempt {attempt} timed out after {after:?}")]
#[non_exhaustive]
pub struct AttemptTimeout {
    /// The attempt's number.
    pub attempt: u32,
    /// The timeout.
    pub after: Duration,
}

impl From<AttemptTimeout> for std::io::Error {
    fn from(t: AttemptTimeout) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, t)
    }
}

impl<E> RetryPolicy<E> {
    /// Up to `max_attempts` attempts (at least 1), exponential backoff from
    /// 100 ms with full jitter, every error retryable, no timeout.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::exponential(Duration::from_millis(100)),
            attempt_timeout: None,
            retryable: None,
        }
    }

    /// Sets the backoff between attempts.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Drops an attempt of an async stage that runs longer than `timeout`;
    /// the attempt fails with `E::from(AttemptTimeout)` (retried like any
    /// other error). A blocking closure cannot be interrupted, so sync
    /// stages ignore it.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self
    where
        E: From<AttemptTimeout>,
    {
        self.attempt_timeout = Some((timeout, E::from));
        self
    }

    /// Only errors for which `predicate` is true are retried; the others
    /// end the stage at once.
    pub fn retry_if(mut self, predicate: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        self.retryable = Some(Arc::new(predicate));
        self
    }

    /// The number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The per-attempt timeout, if any.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout.map(|t| t.0)
    }

    pub(crate) fn is_retryable(&self, e: &E) -> bool {
        self.retryable.as_ref().is_none_or(|p| p(e))
    }
}

/// The span of one attempt: a child of the current span (the stage's).
pub(crate) fn attempt_span(
    stage: &'static str,
    attempt: Attempt,
    previous: Option<&str>,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: "pipeline_telemetry",
        "pipeline.stage.attempt",
        "operation.name" = ATTEMPT_SPAN,
        "resource.name" = stage,
        stage = stage,
        attempt = i64::from(attempt.number),
        "retry.max" = i64::from(attempt.max),
        "retry.previous_error" = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    if let Some(p) = previous {
        span.record("retry.previous_error", p);
    }
    span
}

/// The reason of a failed attempt, bounded, for the next attempt's span.
pub(crate) fn reason(e: &dyn Display) -> String {
    let mut s = e.to_string();
    if s.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Marks the attempt failed; counts and logs the retry when one follows
/// (tagged with the current run's pipeline, never the attempt number).
pub(crate) fn attempt_failed(
    span: &tracing::Span,
    stage: &'static str,
    err: &dyn Display,
    retry_in: Option<Duration>,
) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", tracing::field::display(err));
    let Some(delay) = retry_in else { return };
    let name = catalogue::PIPELINE_STAGE_RETRIES.name;
    let counter = context::with_current(|run| match run {
        Some(r) => CounterHandle::register(
            name,
            &[(tags::PIPELINE, r.pipeline.name), (tags::STAGE, stage)],
        ),
        None => CounterHandle::register(name, &[(tags::STAGE, stage)]),
    });
    counter.increment(1);
    tracing::warn!(
        target: "pipeline_telemetry",
        parent: span,
        retry_in_ms = delay.as_millis() as u64,
        "stage attempt failed, retrying: {err}"
    );
}

/// What `#[instrument_stage(retry ...)]` needs of a function's arguments:
/// each attempt runs the body with its own copy.
#[diagnostic::on_unimplemented(
    message = "an argument of a retried stage must be `Clone`: each attempt gets its own copy, and `{Self}` is not `Clone`",
    label = "not `Clone`",
    note = "take it by reference, make it `Clone`, or retry inside the function with `RetryPolicy::run`"
)]
pub trait RetryArgument {
    /// The copy one attempt gets.
    fn __pt_attempt_copy(&self) -> Self;
}

impl<T: Clone> RetryArgument for T {
    #[inline]
    fn __pt_attempt_copy(&self) -> Self {
        self.clone()
    }
}
