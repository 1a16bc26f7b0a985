//! What one poll of the Spark monitor costs, in CPU time:
//!
//! - `spark_parse`: parsing a jobs answer of 1000 jobs (Spark's default
//!   `spark.ui.retainedJobs`, ~650 KB, built from a job recorded from a real
//!   Spark) element by element as the monitor does, next to plain
//!   `serde_json` into the same types (all or nothing) and into a `Value`.
//! - `spark_poll`: one steady-state poll of a running monitor against a
//!   loopback stand-in of the REST API serving those 1000 jobs and the
//!   executors: the CPU time of the monitor's thread and of the HTTP
//!   client's runtime thread per poll (from `/proc/self/task/*/stat`), the
//!   server's own work excluded. Steady state: every job was reported by
//!   an earlier poll, so no metric or span is emitted.
//!
//! `PT_BENCH_QUICK=1` shortens every group, as in the workspace's benches.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pipeline_telemetry_spark::api::{parse_list, JobData};
use pipeline_telemetry_spark::SparkMonitor;
use serde_json::Value;
use support::{fixture, FakeSpark};

fn config() -> Criterion {
    let quick = std::env::var_os("PT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let c = Criterion::default();
    if quick {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20)
    } else {
        c
    }
}

/// `n` finished jobs built from a recorded one.
fn jobs_body(n: u64) -> String {
    let recorded: Vec<Value> = serde_json::from_str(&fixture("jobs.json")).expect("json");
    let jobs: Vec<Value> = (0..n)
        .rev()
        .map(|id| {
            let mut j = recorded[1].clone();
            j["jobId"] = id.into();
            j
        })
        .collect();
    serde_json::to_string_pretty(&jobs).expect("json")
}

fn parse(c: &mut Criterion) {
    let body = jobs_body(1000);
    let mut g = c.benchmark_group("spark_parse");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("ours/parse_list_1000_jobs", |b| {
        b.iter(|| parse_list::<JobData>(black_box(body.as_bytes())).expect("parse"))
    });
    g.bench_function("serde_json/vec_1000_jobs", |b| {
        b.iter(|| {
            serde_json::from_slice::<Vec<JobData>>(black_box(body.as_bytes())).expect("parse")
        })
    });
    g.bench_function("serde_json/value_1000_jobs", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(body.as_bytes())).expect("parse"))
    });
    g.finish();
}

/// CPU time (user + system) so far of this process's threads whose name
/// starts with one of `prefixes`.
fn threads_cpu(prefixes: &[&str]) -> Duration {
    // /proc reports clock ticks of USER_HZ, 100 on Linux.
    const TICK: Duration = Duration::from_millis(10);
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !prefixes.iter().any(|p| comm.trim().starts_with(p)) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the `(comm)`: state is 3rd, utime 14th, stime 15th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += n(11) + n(12);
    }
    TICK * ticks as u32
}

fn poll(c: &mut Criterion) {
    let spark = FakeSpark::start();
    let id = spark.with_recorded_app();
    spark.set(&format!("applications/{id}/jobs"), jobs_body(1000));
    let monitor = SparkMonitor::new(spark.url())
        .with_interval(Duration::from_millis(10))
        .with_spans(false)
        .start()
        .expect("start");
    while monitor.stats().jobs_reported < 1000 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let threads = ["pt-spark-monito", "reqwest-interna"];
    let mut g = c.benchmark_group("spark_poll");
    g.sample_size(10);
    g.bench_function("ours/steady_poll_1000_jobs_cpu", |b| {
        b.iter_custom(|iters| {
            let (cpu0, polls0) = (threads_cpu(&threads), monitor.stats().polls);
            while monitor.stats().polls < polls0 + iters {
                std::thread::sleep(Duration::from_millis(2));
            }
            let polls = monitor.stats().polls - polls0;
            (threads_cpu(&threads) - cpu0) * iters as u32 / polls.max(1) as u32
        })
    });
    g.finish();
    let stats = monitor.stop().expect("stop");
    assert_eq!(stats.jobs_reported, 1000, "{stats:?}");
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, poll
}
criterion_main!(benches);
