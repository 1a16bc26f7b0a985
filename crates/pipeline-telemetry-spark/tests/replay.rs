//! The monitor against Spark REST answers recorded from a real Spark
//! (`tests/fixtures`, see `record_fixtures.py`), served on loopback:
//! durations and statuses as the recorded API says, each job once, partial
//! and malformed answers, an API that vanishes mid-run, thousands of jobs.

mod support;

use std::time::Duration;

use pipeline_telemetry_spark::{SparkMonitor, SparkMonitorGuard};
use serde_json::Value;
use support::*;

/// Serves the recorded application renamed `app`; returns its id.
fn serve_app(spark: &FakeSpark, app: &str) -> String {
    let id = spark.with_recorded_app();
    spark.set(
        "applications",
        fixture("applications.json").replace("pt-spark-test", app),
    );
    id
}

fn start(spark: &FakeSpark) -> SparkMonitorGuard {
    metrics();
    SparkMonitor::new(spark.url())
        .with_interval(Duration::from_millis(20))
        .with_max_backoff(Duration::from_millis(50))
        .with_request_timeout(Duration::from_secs(2))
        .with_startup_grace(Duration::ZERO)
        .start()
        .expect("start")
}

/// (job tag, status tag, seconds) of every finished job in a recorded jobs
/// answer, computed from the JSON here.
fn expected(jobs_json: &str) -> Vec<(String, String, f64)> {
    let jobs: Value = serde_json::from_str(jobs_json).expect("json");
    let mut out: Vec<_> = jobs
        .as_array()
        .expect("array")
        .iter()
        .filter(|j| j["status"] == "SUCCEEDED" || j["status"] == "FAILED")
        .map(|j| {
            let name = j["jobGroup"]
                .as_str()
                .or(j["description"].as_str())
                .unwrap_or("none");
            let status = if j["status"] == "FAILED" {
                "failed"
            } else {
                "succeeded"
            };
            let ms = spark_millis(j["completionTime"].as_str().expect("end"))
                - spark_millis(j["submissionTime"].as_str().expect("start"));
            // Datadog's tag rules turn the space of a description into `_`.
            (
                name.replace(' ', "_"),
                status.to_owned(),
                ms as f64 / 1000.0,
            )
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    out
}

fn sorted(mut v: Vec<(String, String, f64)>) -> Vec<(String, String, f64)> {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v
}

#[test]
fn recorded_jobs_are_reported_once_with_the_apis_durations() {
    let spark = FakeSpark::start();
    let app = "replay-recorded";
    let id = serve_app(&spark, app);
    // First a poll sees a job running, then the finished list.
    spark.set(
        &format!("applications/{id}/jobs"),
        fixture("jobs_running.json"),
    );
    let monitor = start(&spark);
    wait_for("a poll", || monitor.stats().polls >= 2);
    assert_eq!(
        monitor.stats().jobs_reported,
        0,
        "a running job is not reported"
    );
    spark.set(&format!("applications/{id}/jobs"), fixture("jobs.json"));
    wait_for("five jobs", || monitor.stats().jobs_reported == 5);
    let polls = monitor.stats().polls;
    wait_for("more polls", || monitor.stats().polls >= polls + 5);
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.jobs_reported, 5, "{stats:?}");
    assert_eq!(stats.app_id.as_deref(), Some(id.as_str()));
    assert_eq!(stats.failed_polls, 0);
    assert_eq!(
        stats.executors_active,
        Some(0),
        "local mode: the driver only"
    );

    let got = sorted(durations(app));
    let want = expected(&fixture("jobs.json"));
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1));
        assert!((g.2 - w.2).abs() < 1e-9, "{g:?} vs {w:?}");
    }
    assert_eq!(want.iter().filter(|w| w.1 == "failed").count(), 1);
    let lines = lines_of_app(app);
    let gauge: Vec<_> = lines
        .iter()
        .filter(|m| m.name == "spark.executors.active")
        .collect();
    assert!(
        !gauge.is_empty() && gauge.iter().all(|m| m.values == [0.0]),
        "{gauge:?}"
    );
    for m in &lines {
        assert!(
            m.tags.iter().all(|t| !t.contains("spark_jobs.py")),
            "no call site tag: {m:?}"
        );
        assert!(!m.has_tag_key("job_id"), "{m:?}");
    }
}

#[test]
fn malformed_and_partial_answers_lose_nothing_and_repeat_nothing() {
    let spark = FakeSpark::start();
    let app = "replay-malformed";
    let id = serve_app(&spark, app);
    let jobs_path = format!("applications/{id}/jobs");
    let good = fixture("jobs.json");
    let mut elements: Vec<Value> = serde_json::from_str(&good).expect("json");
    // Element 0 (job 4) broken: the other four are reported.
    elements[0]["jobId"] = Value::String("four".into());
    spark.set(&jobs_path, serde_json::to_string(&elements).expect("json"));
    let monitor = start(&spark);
    wait_for("four jobs", || monitor.stats().jobs_reported == 4);
    // A truncated body, an HTML error page, a 500: failed polls, no report.
    for (status, body) in [
        (200, &good[..good.len() / 2]),
        (200, "<html>oops</html>"),
        (500, "boom"),
    ] {
        spark.answer(&jobs_path, status, body);
        let failed = monitor.stats().failed_polls;
        wait_for("a failed poll", || monitor.stats().failed_polls > failed);
    }
    spark.set(&jobs_path, good);
    wait_for("the fifth job", || monitor.stats().jobs_reported == 5);
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.jobs_reported, 5, "{stats:?}");
    assert!(stats.malformed_elements >= 1);
    assert_eq!(
        stats.outages_reported, 1,
        "one outage, reported once: {stats:?}"
    );
    assert_eq!(durations(app).len(), 5);
}

#[test]
fn an_api_that_vanishes_mid_run_is_reported_once_and_survived() {
    let spark = FakeSpark::start();
    let app = "replay-vanish";
    let id = serve_app(&spark, app);
    let jobs_path = format!("applications/{id}/jobs");
    spark.set(&jobs_path, fixture("jobs_running.json"));
    let monitor = start(&spark);
    wait_for("a poll", || monitor.stats().polls >= 1);
    spark.set_down(true);
    wait_for("several failed polls", || monitor.stats().failed_polls >= 5);
    assert_eq!(monitor.stats().outages_reported, 1);
    spark.set(&jobs_path, fixture("jobs.json"));
    spark.set_down(false);
    wait_for("five jobs", || monitor.stats().jobs_reported == 5);
    // The UI goes away for good before the stage ends: the final read
    // fails, is not reported twice, and stop still returns.
    spark.set_down(true);
    let failed = monitor.stats().failed_polls;
    wait_for("a failed poll", || monitor.stats().failed_polls > failed);
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.jobs_reported, 5);
    assert_eq!(stats.outages_reported, 2, "{stats:?}");
    assert_eq!(durations(app).len(), 5);
}

/// `n` finished jobs with ids `from..from + n`, built from a recorded job.
fn many_jobs(from: u64, n: u64) -> String {
    let recorded: Vec<Value> = serde_json::from_str(&fixture("jobs.json")).expect("json");
    let template = &recorded[1]; // succeeded, with a job group
    let jobs: Vec<Value> = (from..from + n)
        .rev()
        .map(|id| {
            let mut j = template.clone();
            j["jobId"] = id.into();
            j["jobGroup"] = "bulk".into();
            j["status"] = "SUCCEEDED".into();
            j
        })
        .collect();
    serde_json::to_string(&jobs).expect("json")
}

#[test]
fn thousands_of_jobs_each_once_with_bounded_state() {
    let spark = FakeSpark::start();
    let app = "replay-thousands";
    let id = serve_app(&spark, app);
    let jobs_path = format!("applications/{id}/jobs");
    let monitor = start(&spark);
    // Spark lists the last 1000 jobs (spark.ui.retainedJobs): the window
    // slides over 5000 jobs, overlapping from one answer to the next.
    for from in (0..=4000).step_by(500) {
        spark.set(&jobs_path, many_jobs(from, 1000));
        wait_for("the window's jobs", || {
            monitor.stats().jobs_reported == from + 1000
        });
        let polls = monitor.stats().polls;
        wait_for("another poll", || monitor.stats().polls >= polls + 2);
        assert!(
            monitor.stats().tracked_jobs <= 1000,
            "{:?}",
            monitor.stats()
        );
    }
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.jobs_reported, 5000);
    let got = durations(app);
    assert_eq!(got.len(), 5000, "each job once");
    assert!(got
        .iter()
        .all(|(job, status, _)| job == "bulk" && status == "succeeded"));
}

#[test]
fn a_monitor_that_cannot_start_or_reach_spark_never_fails_the_work() {
    let err = SparkMonitor::new("localhost:4040").start().err();
    assert!(
        matches!(
            err,
            Some(pipeline_telemetry_spark::StartError::InvalidUrl { .. })
        ),
        "{err:?}"
    );
    assert_eq!(SparkMonitor::new("not a url").watch(|| 42), 42);

    // Never reachable: quiet during the startup grace, reported once when
    // the final read fails too.
    let spark = FakeSpark::start();
    spark.set_down(true);
    let monitor = SparkMonitor::new(spark.url())
        .with_interval(Duration::from_millis(10))
        .with_startup_grace(Duration::from_secs(600))
        .start()
        .expect("start");
    wait_for("failed polls", || monitor.stats().failed_polls >= 5);
    assert_eq!(
        monitor.stats().outages_reported,
        0,
        "expected while starting"
    );
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.outages_reported, 1, "{stats:?}");
    assert_eq!(stats.polls, 0);
    assert_eq!(stats.app_id, None);
}

#[test]
fn the_application_is_found_by_id_or_name_and_a_wrong_one_is_reported() {
    let spark = FakeSpark::start();
    let id = serve_app(&spark, "replay-by-id");
    spark.set(&format!("applications/{id}"), {
        let apps: Value = serde_json::from_str(&fixture("applications.json")).expect("json");
        let mut app = apps[0].clone();
        app["name"] = "replay-by-id".into();
        serde_json::to_string(&app).expect("json")
    });
    spark.set(&format!("applications/{id}/jobs"), fixture("jobs.json"));
    metrics();
    let by_id = SparkMonitor::new(spark.url())
        .with_app_id(&id)
        .with_interval(Duration::from_millis(20))
        .start()
        .expect("start");
    wait_for("five jobs", || by_id.stats().jobs_reported == 5);
    assert_eq!(
        by_id.stop().expect("stop").app_id.as_deref(),
        Some(id.as_str())
    );
    assert_eq!(durations("replay-by-id").len(), 5);

    let wrong = SparkMonitor::new(spark.url())
        .with_app_name("no-such-app")
        .with_interval(Duration::from_millis(20))
        .with_startup_grace(Duration::ZERO)
        .start()
        .expect("start");
    wait_for("failed polls", || wrong.stats().failed_polls >= 3);
    let stats = wrong.stop().expect("stop");
    assert_eq!(
        (stats.outages_reported, stats.jobs_reported),
        (1, 0),
        "{stats:?}"
    );
}

/// Counts WARN events whose message contains `needle`.
#[derive(Clone, Default)]
struct WarnCounter(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnCounter {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN {
            let mut m = Message(String::new());
            event.record(&mut m);
            self.0.lock().expect("lock").push(m.0);
        }
    }
}

#[test]
fn an_outage_is_logged_once_and_a_hung_api_never_holds_the_stage() {
    use tracing_subscriber::layer::SubscriberExt;
    let warnings = WarnCounter::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let _default = tracing::subscriber::set_default(subscriber);

    let spark = FakeSpark::start();
    spark.set_down(true);
    let monitor = SparkMonitor::new(spark.url())
        .with_interval(Duration::from_millis(10))
        .with_max_backoff(Duration::from_millis(20))
        .with_startup_grace(Duration::ZERO)
        .start()
        .expect("start");
    wait_for("twenty failed polls", || monitor.stats().failed_polls >= 20);
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.outages_reported, 1);
    let logged = warnings.0.lock().expect("lock").clone();
    assert_eq!(logged.len(), 1, "one warning for the outage: {logged:?}");
    assert!(logged[0].contains("cannot be read"), "{logged:?}");

    // An API that accepts connections and never answers: the stage's own
    // thread only ever waits for stop(), which is bounded by its timeout.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", hung.local_addr().expect("addr"));
    let monitor = SparkMonitor::new(url)
        .with_request_timeout(Duration::from_secs(30))
        .with_stop_timeout(Duration::from_millis(200))
        .start()
        .expect("start returns without waiting for Spark");
    let err = monitor.stop().expect_err("the final read is still waiting");
    assert!(
        matches!(err, pipeline_telemetry_spark::StopError::Timeout(_)),
        "{err:?}"
    );
    drop(hung);
}

#[test]
fn watch_and_watch_async_report_what_finished_by_their_final_read() {
    use std::sync::atomic::Ordering;
    let spark = FakeSpark::start();
    let id = serve_app(&spark, "replay-watch");
    let jobs_path = format!("applications/{id}/jobs");
    metrics();
    // An hour between polls: only the first poll (a job running) and the
    // final read (all five finished) run.
    let monitor = || SparkMonitor::new(spark.url()).with_interval(Duration::from_secs(3600));
    let first_poll_done = |before: usize| {
        let spark = spark.clone();
        move || spark.requests.load(Ordering::SeqCst) >= before + 3
    };

    spark.set(&jobs_path, fixture("jobs_running.json"));
    let before = spark.requests.load(Ordering::SeqCst);
    let out = monitor().watch(|| {
        wait_for("the first poll", first_poll_done(before));
        spark.set(&jobs_path, fixture("jobs.json"));
        7
    });
    assert_eq!(out, 7);
    assert_eq!(durations("replay-watch").len(), 5);

    spark.set(&jobs_path, fixture("jobs_running.json"));
    let before = spark.requests.load(Ordering::SeqCst);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let out = rt.block_on(monitor().watch_async(async {
        wait_for("the first poll", first_poll_done(before));
        spark.set(&jobs_path, fixture("jobs.json"));
        8
    }));
    assert_eq!(out, 8);
    // A second monitor of the same application: its own state.
    assert_eq!(durations("replay-watch").len(), 10);
}
