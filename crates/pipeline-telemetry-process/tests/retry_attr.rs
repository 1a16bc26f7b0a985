//! `#[instrument_stage(retry ...)]`: retried functions, sync and async,
//! checked on the DogStatsD wire (UDP) and in the spans the APM test agent
//! received. One async stage runs on a bare executor (no tokio runtime) to
//! show the backoff needs none.

mod common;

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pipeline_telemetry::{instrument_stage, Backoff, PipelineRun, RetryPolicy};
use pipeline_telemetry_test_support::agent;

#[instrument_stage(
    stage = "attr_flaky",
    retry(attempts = 4, backoff = "fixed", base_ms = 30, jitter = false)
)]
fn flaky(calls: &AtomicU32, source: String) -> Result<u32, io::Error> {
    let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
    if n < 3 {
        return Err(io::Error::other(format!("{source} reset #{n}")));
    }
    Ok(n)
}

#[instrument_stage(
    stage = "attr_doomed",
    retry(
        attempts = 3,
        backoff = "exponential",
        base_ms = 20,
        max_ms = 30,
        jitter = "equal"
    )
)]
async fn doomed(calls: Arc<AtomicU32>) -> Result<(), io::Error> {
    let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
    Err(io::Error::other(format!("warehouse down #{n}")))
}

static NOT_DENIED: LazyLock<RetryPolicy<io::Error>> = LazyLock::new(|| {
    RetryPolicy::new(4)
        .with_backoff(Backoff::none())
        .retry_if(|e: &io::Error| e.kind() != io::ErrorKind::PermissionDenied)
});

#[instrument_stage(stage = "attr_fatal", retry = NOT_DENIED)]
fn fatal(calls: &AtomicU32) -> io::Result<()> {
    calls.fetch_add(1, Ordering::Relaxed);
    Err(io::Error::from(io::ErrorKind::PermissionDenied))
}

#[instrument_stage(
    stage = "attr_slow",
    retry(attempts = 2, backoff = "none", timeout_ms = 50)
)]
async fn slow() -> Result<(), io::Error> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

#[instrument_stage(
    stage = "attr_patient",
    retry(attempts = 3, backoff = "fixed", base_ms = 60000, jitter = false)
)]
async fn patient(first_failed: Arc<tokio::sync::Notify>) -> Result<(), io::Error> {
    first_failed.notify_one();
    Err(io::Error::other("upstream 503"))
}

/// A minimal executor (no runtime, no timer of its own): parks the thread
/// until woken.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[test]
fn retried_functions_on_the_wire_and_in_spans() {
    let h = common::init("retry-attr");
    let run = PipelineRun::start("retry_attr_tests", "run-retry-attr-1");

    // Sync: fails twice, succeeds on the third attempt; two 30 ms backoffs.
    let calls = AtomicU32::new(0);
    let started = Instant::now();
    let v = run.in_scope(|| flaky(&calls, "db".to_string()));
    assert_eq!(v.ok(), Some(3));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert!(started.elapsed() >= Duration::from_millis(60));

    // Async on a bare executor: three failures, equal-jitter backoffs of at
    // least 10 ms and 15 ms.
    let calls = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let r = block_on(run.scope(doomed(calls.clone())));
    let took = started.elapsed();
    assert!(r.is_err());
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert!(took >= Duration::from_millis(25), "{took:?}");

    // A policy expression with a predicate: not retryable, one attempt.
    let calls = AtomicU32::new(0);
    assert!(run.in_scope(|| fatal(&calls)).is_err());
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Per-attempt timeout: each attempt hangs and is dropped after 50 ms.
    let r = rt.block_on(run.scope(slow()));
    assert_eq!(r.expect_err("timed out").kind(), io::ErrorKind::TimedOut);

    // Cancellation during a 60 s backoff.
    let first_failed = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let cancelled = rt.block_on(run.scope(async {
        tokio::select! {
            r = patient(first_failed.clone()) => Some(r),
            _ = async {
                first_failed.notified().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            } => None,
        }
    }));
    assert!(cancelled.is_none(), "cancelled while backing off");
    assert!(started.elapsed() < Duration::from_secs(30));
    run.finish();
    h.guard.flush();

    let lines = h.udp.lines_until(Duration::from_secs(10), |l| {
        !common::matching(l, "pipeline.stage.duration", &["stage:attr_patient"]).is_empty()
    });
    let count = |name: &str, stage: &str| {
        let tag = format!("stage:{stage}");
        common::count_sum(&common::matching(
            &lines,
            name,
            &["pipeline:retry_attr_tests", &tag],
        ))
    };
    let duration = |stage: &str, status: &str| {
        let (s, st) = (format!("stage:{stage}"), format!("status:{status}"));
        common::matching(&lines, "pipeline.stage.duration", &[&s, &st]).len()
    };
    assert_eq!(
        count("pipeline.stage.retries", "attr_flaky"),
        2,
        "{lines:#?}"
    );
    assert_eq!(count("pipeline.errors", "attr_flaky"), 0);
    assert_eq!(duration("attr_flaky", "ok"), 1);
    assert_eq!(duration("attr_flaky", "error"), 0);
    assert_eq!(count("pipeline.stage.retries", "attr_doomed"), 2);
    assert_eq!(count("pipeline.errors", "attr_doomed"), 1);
    assert_eq!(duration("attr_doomed", "error"), 1);
    assert_eq!(count("pipeline.stage.retries", "attr_fatal"), 0);
    assert_eq!(count("pipeline.errors", "attr_fatal"), 1);
    assert_eq!(count("pipeline.stage.retries", "attr_slow"), 1);
    assert_eq!(count("pipeline.errors", "attr_slow"), 1);
    assert_eq!(count("pipeline.stage.retries", "attr_patient"), 1);
    assert_eq!(count("pipeline.errors", "attr_patient"), 0);
    assert_eq!(duration("attr_patient", "cancelled"), 1);
    assert!(
        lines.iter().all(|l| !l.contains("attempt:")),
        "attempt numbers never become tags"
    );

    h.guard.shutdown(Duration::from_secs(10)).expect("shutdown");
    let spans = agent::poll_spans(&h.token, |s| {
        s.iter()
            .filter(|s| s.name == "pipeline.stage.attempt")
            .count()
            >= 10
    });
    let attr = |s: &agent::Span, k: &str| s.attributes.get(k).cloned().unwrap_or_default();
    let stage_span = |stage: &str| {
        spans
            .iter()
            .find(|s| s.name == "pipeline.stage" && attr(s, "stage") == stage)
            .unwrap_or_else(|| panic!("no stage span {stage}: {spans:#?}"))
    };
    let attempts = |stage: &str| {
        let parent = stage_span(stage);
        let mut a: Vec<_> = spans
            .iter()
            .filter(|s| {
                s.name == "pipeline.stage.attempt"
                    && s.parent_span_id.as_ref() == Some(&parent.span_id)
            })
            .collect();
        a.sort_by_key(|s| attr(s, "attempt").parse::<u32>().unwrap_or(0));
        a
    };
    let is_error = |s: &agent::Span| {
        s.status_code
            .as_deref()
            .is_some_and(|c| c.contains("ERROR"))
    };
    let flaky_attempts = attempts("attr_flaky");
    assert_eq!(flaky_attempts.len(), 3, "{spans:#?}");
    for (i, a) in flaky_attempts.iter().enumerate() {
        assert_eq!(attr(a, "attempt"), (i + 1).to_string());
        assert_eq!(attr(a, "retry.max"), "4");
    }
    assert_eq!(attr(flaky_attempts[0], "retry.previous_error"), "");
    assert_eq!(
        attr(flaky_attempts[1], "retry.previous_error"),
        "db reset #1"
    );
    assert_eq!(
        attr(flaky_attempts[2], "retry.previous_error"),
        "db reset #2"
    );
    assert!(is_error(flaky_attempts[0]) && !is_error(flaky_attempts[2]));
    let flaky_stage = stage_span("attr_flaky");
    assert!(!is_error(flaky_stage));
    assert!(flaky_stage.start_unix_nano <= flaky_attempts[0].start_unix_nano);
    assert!(flaky_stage.end_unix_nano >= flaky_attempts[2].end_unix_nano);
    let doomed_attempts = attempts("attr_doomed");
    assert_eq!(doomed_attempts.len(), 3);
    assert_eq!(
        attr(doomed_attempts[2], "retry.previous_error"),
        "warehouse down #2"
    );
    let doomed_stage = stage_span("attr_doomed");
    assert!(is_error(doomed_stage));
    assert!(doomed_stage
        .status_message
        .as_deref()
        .is_some_and(|m| m.contains("warehouse down #3")));
    assert_eq!(attempts("attr_fatal").len(), 1);
    assert_eq!(attempts("attr_slow").len(), 2);
    assert_eq!(attempts("attr_patient").len(), 1);
}
