//! The attempt loops of a retried stage, for closures (blocking backoff
//! on the caller's thread) and futures (backoff on the runtime-agnostic
//! timer, cancelled when the future is dropped).

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tracing::Instrument;

use crate::nesting;
use crate::retry::{attempt_failed, attempt_span, reason, Attempt, AttemptTimeout, RetryPolicy};
use crate::timer::{self, Sleep};
use crate::{PipelineRun, Stage};

/// The attempts of a sync stage, inside its span. Backoff sleeps block
/// the caller's thread (the body itself blocks it too).
///
/// # Errors
///
/// The last attempt's error: the one the policy does not retry, or that
/// of the final attempt.
pub fn attempts_sync<T, E: Display>(
    policy: &RetryPolicy<E>,
    stage: &'static str,
    mut f: impl FnMut(Attempt) -> Result<T, E>,
) -> Result<T, E> {
    let mut previous: Option<String> = None;
    let mut n = 1;
    loop {
        let attempt = Attempt {
            number: n,
            max: policy.max_attempts,
        };
        let span = attempt_span(stage, attempt, previous.as_deref());
        // What an earlier attempt's inner stages reported is not this
        // attempt's failure.
        nesting::clear();
        let err = match span.in_scope(|| f(attempt)) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let retry = !attempt.is_last() && policy.is_retryable(&err);
        let delay = retry.then(|| policy.backoff.delay(n));
        attempt_failed(&span, stage, &err, delay);
        let Some(delay) = delay else { return Err(err) };
        previous = Some(reason(&err));
        drop(span);
        std::thread::sleep(delay);
        n += 1;
    }
}

/// The attempts of an async stage, each a fresh future from `f`, inside
/// the stage's span. Dropping the returned future stops at once, also in
/// the middle of a backoff.
///
/// # Errors
///
/// As [`attempts_sync`]; an attempt that runs past the policy's timeout
/// fails with the error the policy builds from [`AttemptTimeout`].
pub async fn attempts_async<T, E, Fut>(
    policy: &RetryPolicy<E>,
    stage: &'static str,
    mut f: impl FnMut(Attempt) -> Fut,
) -> Result<T, E>
where
    E: Display,
    Fut: Future<Output = Result<T, E>>,
{
    let mut previous: Option<String> = None;
    let mut n = 1;
    loop {
        let attempt = Attempt {
            number: n,
            max: policy.max_attempts,
        };
        let span = attempt_span(stage, attempt, previous.as_deref());
        // What an earlier attempt's inner stages reported is not this
        // attempt's failure (polled inside the stage: its frame is current).
        nesting::clear();
        let fut = f(attempt).instrument(span.clone());
        let result = match policy.attempt_timeout {
            None => fut.await,
            Some((after, timed_out)) => match (Timeout {
                inner: fut,
                sleep: timer::timeout(after, stage),
            })
            .await
            {
                Some(r) => r,
                None => Err(timed_out(AttemptTimeout { attempt: n, after })),
            },
        };
        let err = match result {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let retry = !attempt.is_last() && policy.is_retryable(&err);
        let delay = retry.then(|| policy.backoff.delay(n));
        attempt_failed(&span, stage, &err, delay);
        let Some(delay) = delay else { return Err(err) };
        previous = Some(reason(&err));
        drop(span);
        timer::sleep(delay, stage).await;
        n += 1;
    }
}

pin_project! {
    /// `inner`, or `None` once `sleep` completes first.
    struct Timeout<F> {
        #[pin]
        inner: F,
        sleep: Sleep,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.inner.poll(cx) {
            return Poll::Ready(Some(v));
        }
        Pin::new(this.sleep).poll(cx).map(|()| None)
    }
}

impl<E: Display> RetryPolicy<E> {
    /// Runs `f` as one call of `stage` in `run`, retrying as the policy
    /// says. Backoff sleeps block this thread (use
    /// [`run_async`](Self::run_async) in async code); the per-attempt
    /// timeout does not apply (a blocking closure cannot be interrupted).
    ///
    /// # Errors
    ///
    /// The error of the last attempt made: one the policy does not retry,
    /// or that of the last allowed attempt. Each failed attempt is recorded
    /// on its own span; the stage records the final outcome.
    pub fn run<T>(
        &self,
        stage: &'static Stage,
        run: &PipelineRun,
        f: impl FnMut(Attempt) -> Result<T, E>,
    ) -> Result<T, E> {
        run.in_scope(|| stage.run(|| attempts_sync(self, stage.name(), f)))
    }

    /// Runs the futures `f` returns as one call of `stage` in `run`,
    /// retrying as the policy says. Backoff sleeps and attempt timeouts
    /// never block a thread and need no particular runtime (a timer thread
    /// of this crate wakes the task); dropping the returned future
    /// (cancellation) stops at once, also in the middle of a backoff, and
    /// records the stage as `status:cancelled`.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run); an attempt that runs past the per-attempt
    /// timeout fails with the error the policy builds from
    /// [`AttemptTimeout`].
    pub async fn run_async<T, Fut>(
        &self,
        stage: &'static Stage,
        run: &PipelineRun,
        f: impl FnMut(Attempt) -> Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        run.scope(stage.run_async(attempts_async(self, stage.name(), f)))
            .await
    }
}
