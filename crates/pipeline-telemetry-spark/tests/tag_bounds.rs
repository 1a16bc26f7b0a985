//! The metric tags stay bounded for the life of the process, across any
//! number of monitors and applications: one after the other, monitors
//! watch applications (answers recorded from a real Spark, renamed, served
//! on loopback), one of them without a name, each with job groups of its
//! own. Every DogStatsD line the process sent is read back: the `job` tag
//! takes at most the cap's distinct names in the whole process (then
//! `other`), the application is tagged `app_name` (Datadog's Spark
//! integration's key), never `app` and never with an application id.
//!
//! Its own test binary: the caps are process-wide, so no other test may
//! share the process.
//!
//! On the old code: the cap reset with every monitor (each admitted new
//! names), the unnamed application was tagged with its id, and the key
//! was `app`.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use pipeline_telemetry_dogstatsd::parse::parse_datagram;
use pipeline_telemetry_spark::{SparkMonitor, OTHER_JOB, UNNAMED_APP, UNNAMED_JOB};
use support::*;

const MONITORS: usize = 4;
const MAX_JOB_NAMES: usize = 3;

/// The recorded application with id `id`, named `name`, its job groups and
/// descriptions suffixed `-{n}` (new names with every application).
fn serve(spark: &FakeSpark, id: &str, name: &str, n: usize) {
    let recorded = spark.with_recorded_app();
    let apps = fixture("applications.json")
        .replace(&recorded, id)
        .replace("\"pt-spark-test\"", &format!("\"{name}\""));
    spark.set("applications", apps);
    let jobs = fixture("jobs.json")
        .replace("\"jobGroup\": \"", &format!("\"jobGroup\": \"g{n}-"))
        .replace("\"description\": \"", &format!("\"description\": \"d{n}-"));
    spark.set(&format!("applications/{id}/jobs"), jobs);
    spark.set(
        &format!("applications/{id}/executors"),
        fixture("executors.json"),
    );
    spark.set(
        &format!("applications/{id}/stages?status=failed"),
        fixture("stages_failed.json"),
    );
}

#[test]
fn tags_are_bounded_across_monitors_and_applications() {
    let (sink, guard) = metrics();
    let mut ids = Vec::new();
    for n in 0..MONITORS {
        let spark = FakeSpark::start();
        let id = format!("local-17956143{n:05}");
        // The second application has no name.
        let name = if n == 1 {
            String::new()
        } else {
            format!("nightly-{n}")
        };
        serve(&spark, &id, &name, n);
        let monitor = SparkMonitor::new(spark.url())
            .with_interval(Duration::from_millis(20))
            .with_startup_grace(Duration::ZERO)
            .with_max_job_names(MAX_JOB_NAMES)
            .start()
            .expect("start");
        wait_for("the five recorded jobs", || {
            monitor.stats().jobs_reported >= 5
        });
        let stats = monitor.stop().expect("stop");
        assert_eq!(stats.app_id.as_deref(), Some(id.as_str()));
        ids.push(id);
    }
    guard.flush();
    let metrics: Vec<_> = sink
        .lines()
        .iter()
        .flat_map(|l| parse_datagram(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .filter(|m| m.name.starts_with("spark."))
        .collect();
    let durations: Vec<_> = metrics
        .iter()
        .filter(|m| m.name == "spark.job.duration")
        .collect();
    assert_eq!(
        durations.iter().map(|m| m.values.len()).sum::<usize>(),
        5 * MONITORS,
        "every job reported: {metrics:#?}"
    );
    let mut apps = BTreeSet::new();
    let mut jobs = BTreeSet::new();
    for m in &metrics {
        assert!(m.tag("app").is_none(), "no `app` tag: {m:?}");
        let app = m.tag("app_name").unwrap_or_else(|| panic!("{m:?}"));
        assert!(!ids.iter().any(|id| app.contains(id.as_str())), "{m:?}");
        apps.insert(app.to_owned());
        if let Some(job) = m.tag("job") {
            jobs.insert(job.to_owned());
        }
    }
    let want_apps: BTreeSet<String> = ["nightly-0", UNNAMED_APP, "nightly-2", "nightly-3"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(apps, want_apps);
    // The first application's first three names (in the order its jobs
    // were listed: newest first), then `other` for every later one, of any
    // monitor.
    let named: BTreeSet<&String> = jobs
        .iter()
        .filter(|j| *j != OTHER_JOB && *j != UNNAMED_JOB)
        .collect();
    assert_eq!(named.len(), MAX_JOB_NAMES, "{jobs:?}");
    assert!(named
        .iter()
        .all(|j| j.starts_with("g0-") || j.starts_with("d0-")));
    assert!(jobs.contains(OTHER_JOB), "{jobs:?}");
}
