//! Retries as part of a stage: every attempt its own span under the stage's
//! span, one stage duration over all attempts, one error only when the last
//! attempt fails, and each retry counted in `pipeline.stage.retries`.

use std::fmt::{self, Display};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use pipeline_telemetry::catalogue::{self, tags};
use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_dogstatsd::CounterHandle;
use tracing::field::Empty;
use tracing::Instrument;

use crate::backoff::Backoff;

/// The span name (and Datadog operation name) of one attempt.
pub const ATTEMPT_SPAN: &str = "pipeline.stage.attempt";

/// Longest previous-failure reason put on an attempt's span.
const MAX_REASON: usize = 512;

type Predicate<E> = dyn Fn(&E) -> bool + Send + Sync;

/// How a stage is retried: attempts, backoff, a per-attempt timeout and
/// which errors are worth another attempt.
///
/// ```
/// use std::time::Duration;
/// use pipeline_telemetry::{PipelineRun, Stage};
/// use pipeline_telemetry_process::{Backoff, RetryPolicy};
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
pub struct RetryPolicy<E> {
    max_attempts: u32,
    backoff: Backoff,
    attempt_timeout: Option<Duration>,
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
            .field("attempt_timeout", &self.attempt_timeout)
            .field("retryable", &self.retryable.is_some())
            .finish()
    }
}

/// One attempt of a retried stage, given to the closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    max: u32,
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

    /// Drops an attempt of [`run_async`](Self::run_async) that runs longer
    /// than `timeout` (a blocking closure cannot be interrupted, so
    /// [`run`](Self::run) ignores it).
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
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

    fn is_retryable(&self, e: &E) -> bool {
        self.retryable.as_ref().map_or(true, |p| p(e))
    }
}

fn attempt_span(stage: &'static str, attempt: Attempt, previous: Option<&str>) -> tracing::Span {
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
fn reason(e: &dyn Display) -> String {
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

/// Marks the attempt failed; counts and logs the retry when one follows.
fn attempt_failed(
    span: &tracing::Span,
    run: &PipelineRun,
    stage: &'static str,
    err: &dyn Display,
    retry_in: Option<Duration>,
) {
    span.record("otel.status_code", "error");
    span.record("otel.status_description", tracing::field::display(err));
    if let Some(delay) = retry_in {
        CounterHandle::register(
            catalogue::PIPELINE_STAGE_RETRIES.name,
            &[(tags::PIPELINE, run.pipeline()), (tags::STAGE, stage)],
        )
        .increment(1);
        tracing::warn!(
            target: "pipeline_telemetry",
            parent: span,
            retry_in_ms = delay.as_millis() as u64,
            "stage attempt failed, retrying: {err}"
        );
    }
}

impl<E: Display> RetryPolicy<E> {
    /// Runs `f` as one call of `stage` in `run`, retrying as the policy
    /// says. Backoff sleeps block this thread (use
    /// [`run_async`](Self::run_async) in async code).
    pub fn run<T>(
        &self,
        stage: &'static Stage,
        run: &PipelineRun,
        mut f: impl FnMut(Attempt) -> Result<T, E>,
    ) -> Result<T, E> {
        run.in_scope(|| {
            stage.run(|| {
                let mut previous: Option<String> = None;
                let mut n = 1;
                loop {
                    let attempt = Attempt {
                        number: n,
                        max: self.max_attempts,
                    };
                    let span = attempt_span(stage.name(), attempt, previous.as_deref());
                    let err = match span.in_scope(|| f(attempt)) {
                        Ok(v) => return Ok(v),
                        Err(e) => e,
                    };
                    let retry = !attempt.is_last() && self.is_retryable(&err);
                    let delay = retry.then(|| self.backoff.delay(n));
                    attempt_failed(&span, run, stage.name(), &err, delay);
                    let Some(delay) = delay else { return Err(err) };
                    previous = Some(reason(&err));
                    drop(span);
                    std::thread::sleep(delay);
                    n += 1;
                }
            })
        })
    }

    /// Runs the futures `f` returns as one call of `stage` in `run`,
    /// retrying as the policy says. Backoff sleeps are tokio timers:
    /// dropping the returned future (cancellation) stops at once, also in
    /// the middle of a backoff, and records the stage as cancelled.
    pub async fn run_async<T, Fut>(
        &self,
        stage: &'static Stage,
        run: &PipelineRun,
        mut f: impl FnMut(Attempt) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
        E: From<AttemptTimeout>,
    {
        let attempts = async {
            let mut previous: Option<String> = None;
            let mut n = 1;
            loop {
                let attempt = Attempt {
                    number: n,
                    max: self.max_attempts,
                };
                let span = attempt_span(stage.name(), attempt, previous.as_deref());
                let fut = f(attempt).instrument(span.clone());
                let result = match self.attempt_timeout {
                    None => fut.await,
                    Some(after) => match tokio::time::timeout(after, fut).await {
                        Ok(r) => r,
                        Err(_) => Err(E::from(AttemptTimeout { attempt: n, after })),
                    },
                };
                let err = match result {
                    Ok(v) => return Ok(v),
                    Err(e) => e,
                };
                let retry = !attempt.is_last() && self.is_retryable(&err);
                let delay = retry.then(|| self.backoff.delay(n));
                attempt_failed(&span, run, stage.name(), &err, delay);
                let Some(delay) = delay else { return Err(err) };
                previous = Some(reason(&err));
                drop(span);
                tokio::time::sleep(delay).await;
                n += 1;
            }
        };
        run.scope(stage.run_async(attempts)).await
    }
}
