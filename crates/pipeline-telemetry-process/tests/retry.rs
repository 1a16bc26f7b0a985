//! Retries: attempts, backoff bounds, the final outcome, per-attempt
//! timeouts and cancellation during a backoff, checked on the DogStatsD wire
//! (UDP) and in the spans the APM test agent received.

mod common;

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{Backoff, Jitter, RetryPolicy};
use pipeline_telemetry_test_support::agent;

static FLAKY: Stage = Stage::new("flaky_extract");
static DOOMED: Stage = Stage::new("doomed_load");
static FATAL: Stage = Stage::new("fatal_load");
static SLOW: Stage = Stage::new("slow_api");
static PATIENT: Stage = Stage::new("patient_upload");

#[test]
fn retries_on_the_wire_and_in_spans() {
    let h = common::init("retry");
    let run = PipelineRun::start("retry_tests", "run-retry-1");

    // Sync: fails twice, succeeds on the third attempt; fixed 50 ms backoff.
    let calls = AtomicU32::new(0);
    let started = Instant::now();
    let policy = RetryPolicy::new(5)
        .with_backoff(Backoff::fixed(Duration::from_millis(50)).with_jitter(Jitter::None));
    let v = policy.run(&FLAKY, &run, |attempt| {
        calls.fetch_add(1, Ordering::Relaxed);
        if attempt.number() < 3 {
            Err(io::Error::other(format!(
                "connection reset #{}",
                attempt.number()
            )))
        } else {
            Ok(42)
        }
    });
    assert_eq!(v.ok(), Some(42));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "two backoffs of 50 ms"
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Async: fails every time; exponential backoff with equal jitter.
    let backoff = Backoff::exponential(Duration::from_millis(40)).with_jitter(Jitter::Equal);
    let policy = RetryPolicy::new(3).with_backoff(backoff);
    let started = Instant::now();
    let r: Result<(), io::Error> = rt.block_on(policy.run_async(&DOOMED, &run, |a| async move {
        tokio::task::yield_now().await;
        Err(io::Error::other(format!("warehouse down #{}", a.number())))
    }));
    let took = started.elapsed();
    assert!(r.is_err());
    let min = backoff.bounds(1).0 + backoff.bounds(2).0;
    assert!(took >= min, "{took:?} < {min:?}");

    // Not retryable: one attempt only.
    let calls = AtomicU32::new(0);
    let policy = RetryPolicy::new(4)
        .with_backoff(Backoff::none())
        .retry_if(|e: &io::Error| e.kind() != io::ErrorKind::PermissionDenied);
    let r: Result<(), io::Error> = policy.run(&FATAL, &run, |_| {
        calls.fetch_add(1, Ordering::Relaxed);
        Err(io::Error::from(io::ErrorKind::PermissionDenied))
    });
    assert!(r.is_err());
    assert_eq!(calls.load(Ordering::Relaxed), 1);

    // Per-attempt timeout: each attempt hangs, each is dropped after 50 ms.
    let policy = RetryPolicy::new(2)
        .with_backoff(Backoff::none())
        .with_attempt_timeout(Duration::from_millis(50));
    let r: Result<(), io::Error> = rt.block_on(policy.run_async(&SLOW, &run, |_| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }));
    assert_eq!(r.expect_err("timed out").kind(), io::ErrorKind::TimedOut);

    // Cancellation during a 60 s backoff: the stage future is dropped.
    let policy = RetryPolicy::new(3)
        .with_backoff(Backoff::fixed(Duration::from_secs(60)).with_jitter(Jitter::None));
    let first_failed = std::sync::Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let cancelled = rt.block_on(async {
        let notify = first_failed.clone();
        let stage = policy.run_async(&PATIENT, &run, move |_| {
            let notify = notify.clone();
            async move {
                notify.notify_one();
                Err::<(), _>(io::Error::other("upstream 503"))
            }
        });
        tokio::select! {
            r = stage => Some(r),
            _ = async {
                first_failed.notified().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            } => None,
        }
    });
    assert!(cancelled.is_none(), "cancelled while backing off");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the backoff did not hold the stage"
    );
    run.finish();
    h.guard.flush();

    // The wire: retries counted per retry, errors once per failed stage.
    let lines = h.udp.lines_until(Duration::from_secs(10), |l| {
        !common::matching(l, "pipeline.stage.duration", &["stage:patient_upload"]).is_empty()
    });
    let count = |name: &str, stage: &str| {
        let tag = format!("stage:{stage}");
        common::count_sum(&common::matching(
            &lines,
            name,
            &["pipeline:retry_tests", &tag],
        ))
    };
    assert_eq!(
        count("pipeline.stage.retries", "flaky_extract"),
        2,
        "{lines:#?}"
    );
    assert_eq!(count("pipeline.errors", "flaky_extract"), 0);
    assert_eq!(count("pipeline.stage.retries", "doomed_load"), 2);
    assert_eq!(count("pipeline.errors", "doomed_load"), 1);
    assert_eq!(count("pipeline.stage.retries", "fatal_load"), 0);
    assert_eq!(count("pipeline.errors", "fatal_load"), 1);
    assert_eq!(count("pipeline.stage.retries", "slow_api"), 1);
    assert_eq!(count("pipeline.errors", "slow_api"), 1);
    assert_eq!(count("pipeline.stage.retries", "patient_upload"), 1);
    assert_eq!(count("pipeline.errors", "patient_upload"), 0);
    let duration = |stage: &str, status: &str| {
        let (s, st) = (format!("stage:{stage}"), format!("status:{status}"));
        common::matching(&lines, "pipeline.stage.duration", &[&s, &st]).len()
    };
    assert_eq!(
        duration("flaky_extract", "ok"),
        1,
        "one duration for all attempts"
    );
    assert_eq!(duration("flaky_extract", "error"), 0);
    assert_eq!(duration("doomed_load", "error"), 1);
    assert_eq!(duration("patient_upload", "cancelled"), 1);
    assert!(
        lines.iter().all(|l| !l.contains("attempt:")),
        "attempt numbers never become tags"
    );

    // The spans: every attempt under its stage span.
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
    let flaky = attempts("flaky_extract");
    assert_eq!(flaky.len(), 3, "{spans:#?}");
    for (i, a) in flaky.iter().enumerate() {
        assert_eq!(attr(a, "attempt"), (i + 1).to_string());
        assert_eq!(attr(a, "retry.max"), "5");
    }
    assert_eq!(attr(flaky[0], "retry.previous_error"), "");
    assert_eq!(
        attr(flaky[1], "retry.previous_error"),
        "connection reset #1"
    );
    assert_eq!(
        attr(flaky[2], "retry.previous_error"),
        "connection reset #2"
    );
    assert!(flaky[0]
        .status_code
        .as_deref()
        .is_some_and(|c| c.contains("ERROR")));
    assert!(!flaky[2]
        .status_code
        .as_deref()
        .unwrap_or("")
        .contains("ERROR"));
    let flaky_stage = stage_span("flaky_extract");
    assert!(!flaky_stage
        .status_code
        .as_deref()
        .unwrap_or("")
        .contains("ERROR"));
    assert!(flaky_stage.start_unix_nano <= flaky[0].start_unix_nano);
    assert!(flaky_stage.end_unix_nano >= flaky[2].end_unix_nano);
    assert_eq!(attempts("doomed_load").len(), 3);
    let doomed = stage_span("doomed_load");
    assert!(doomed
        .status_code
        .as_deref()
        .is_some_and(|c| c.contains("ERROR")));
    assert!(doomed
        .status_message
        .as_deref()
        .is_some_and(|m| m.contains("warehouse down #3")));
    assert_eq!(attempts("fatal_load").len(), 1);
    assert_eq!(attempts("slow_api").len(), 2);
    assert_eq!(attempts("patient_upload").len(), 1);
}
