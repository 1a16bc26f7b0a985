//! The wire form, field by field, against Datadog's official Python client
//! (`datadog` package, installed in `.venv` by `scripts/setup-peers.sh`):
//! both send to real UDP sockets on loopback, and the datagrams are compared
//! after parsing (metrics) or as sets of `|`-fields (events, service checks).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pipeline_telemetry_dogstatsd::encoder::{Encoder, MetricType, Suffix};
use pipeline_telemetry_dogstatsd::parse::{parse_datagram, ParsedMetric};
use pipeline_telemetry_dogstatsd::{
    AlertType, CheckStatus, CounterHandle, DistributionHandle, DogStatsDBuilder, Event,
    GaugeHandle, Priority, ServiceCheck, Target,
};
use pipeline_telemetry_test_support::UdpReceiver;

fn python() -> PathBuf {
    pipeline_telemetry_test_support::python::python()
}

/// Every datagram, ours and the official client's, ends each line with `\n`.
fn assert_newline_terminated(who: &str, datagrams: &[String]) {
    for d in datagrams {
        assert!(
            d.ends_with('\n'),
            "{who}: {d:?} does not end with a newline"
        );
    }
}

/// Runs the official client on `ops` and returns the datagrams it sent.
fn official(ops: serde_json::Value) -> Vec<String> {
    let receiver = UdpReceiver::bind().expect("bind");
    let port = receiver
        .addr()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let dir = std::env::temp_dir().join(format!("pt-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("ops-{port}.json"));
    std::fs::write(&file, ops.to_string()).expect("write ops");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/dogstatsd_oracle.py");
    let out = Command::new(python())
        .arg(script)
        .arg(&port)
        .arg(&file)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = receiver
        .drain(Duration::from_millis(300))
        .into_iter()
        .map(|d| String::from_utf8(d).expect("utf-8"))
        .collect();
    assert_newline_terminated("datadogpy", &got);
    got
}

fn parse_all(datagrams: &[String]) -> Vec<ParsedMetric> {
    datagrams
        .iter()
        .flat_map(|d| parse_datagram(d).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

fn fields(line: &str) -> BTreeSet<String> {
    line.trim_end_matches('\n')
        .split('|')
        .map(str::to_owned)
        .collect()
}

/// Ours, through the whole exporter, to a real UDP socket.
fn ours(
    configure: impl FnOnce(DogStatsDBuilder) -> DogStatsDBuilder,
    record: impl FnOnce(),
) -> Vec<String> {
    let receiver = UdpReceiver::bind().expect("bind");
    let builder = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
        .with_origin_detection(false)
        .with_telemetry(false);
    let guard = configure(builder).start().expect("start");
    record();
    drop(guard);
    let got: Vec<String> = receiver
        .drain(Duration::from_millis(300))
        .into_iter()
        .map(|d| String::from_utf8(d).expect("utf-8"))
        .collect();
    assert_newline_terminated("ours", &got);
    got
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The exporter is process-wide: one test at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// Run the comparisons one after the other.
#[test]
fn wire_form_matches_the_official_client() {
    let _s = serial();
    counts_gauges_distributions_with_tags_container_and_cardinality();
    timestamps();
    sample_rates();
    other_types_through_the_encoder();
    events_and_service_checks();
}

/// Timestamped points recorded right after their series is registered,
/// while the background flusher runs every millisecond over many series
/// (so that registrations land in the middle of its flushes, as on a
/// loaded machine): none is lost. Then many rounds, each a fresh exporter
/// started and stopped (the timed-point queue outlives them).
#[test]
fn timestamped_points_are_never_lost() {
    let _s = serial();
    for i in 0..20_000 {
        CounterHandle::register("oracle.idle", &[("i", &i.to_string())]);
    }
    const POINTS: usize = 3_000;
    let receiver = UdpReceiver::bind().expect("bind");
    let is_point = |l: &String| l.starts_with("oracle.late_many.");
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            receiver.lines_until(Duration::from_secs(30), |l| {
                l.iter().filter(|l| is_point(l)).count() >= POINTS
            })
        });
        let guard = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
            .with_origin_detection(false)
            .with_telemetry(false)
            .with_flush_interval(Duration::from_millis(1))
            .start()
            .expect("start");
        for i in 0..POINTS {
            let name = format!("oracle.late_many.p{i}");
            CounterHandle::register(&name, &[("a", "b")]).increment_at(1, 1_700_000_000);
        }
        let stats = guard.stats();
        drop(guard);
        (reader.join().expect("reader"), stats)
    });
    let (lines, stats) = lines;
    let got = lines.iter().filter(|l| is_point(l)).count();
    assert_eq!(got, POINTS, "timestamped points lost: {stats:?}");

    for round in 0..50u64 {
        let receiver = UdpReceiver::bind().expect("bind");
        let guard = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
            .with_origin_detection(false)
            .with_telemetry(false)
            .with_flush_interval(Duration::from_millis(1))
            .start()
            .expect("start");
        let name = format!("oracle.late_count_r{round}");
        CounterHandle::register(&name, &[("a", "b")]).increment_at(4, 1_700_000_060 + round);
        drop(guard);
        let prefix = format!("{name}:");
        let lines = receiver.lines_until(Duration::from_secs(5), |l| {
            l.iter().any(|l| l.starts_with(&prefix))
        });
        let got: Vec<ParsedMetric> = lines
            .iter()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| pipeline_telemetry_dogstatsd::parse::parse_line(l).expect("parses"))
            .collect();
        assert_eq!(got.len(), 1, "round {round}: {lines:?}");
        assert_eq!(got[0].values, vec![4.0]);
        assert_eq!(got[0].timestamp, Some(1_700_000_060 + round));
    }
}

fn counts_gauges_distributions_with_tags_container_and_cardinality() {
    let client = serde_json::json!({"constant_tags": ["env:dev"], "container_id": "ci-abc", "cardinality": "high"});
    let theirs = parse_all(&official(serde_json::json!([
        {"op": "increment", "args": ["oracle.count", 3], "kwargs": {"tags": ["pipeline:etl", "stage:dbt"]}, "client": client},
        {"op": "gauge", "args": ["oracle.gauge", 2.5], "kwargs": {"tags": ["queue:q1"]}, "client": client},
        {"op": "distribution", "args": ["oracle.dist", 0.125], "kwargs": {"tags": ["stage:dbt"]}, "client": client},
    ])));
    let mine = parse_all(&ours(
        |b| {
            b.with_env("dev")
                .with_container_id("ci-abc")
                .with_cardinality("high")
        },
        || {
            CounterHandle::register("oracle.count", &[("pipeline", "etl"), ("stage", "dbt")])
                .increment(3);
            GaugeHandle::register("oracle.gauge", &[("queue", "q1")]).set(2.5);
            DistributionHandle::register("oracle.dist", &[("stage", "dbt")]).record(0.125);
        },
    ));
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    for t in &theirs {
        let m = mine
            .iter()
            .find(|m| m.name == t.name)
            .unwrap_or_else(|| panic!("{} missing: {mine:?}", t.name));
        assert_eq!(m, t);
    }
}

fn timestamps() {
    let theirs = parse_all(&official(serde_json::json!([
        {"op": "gauge_with_timestamp", "args": ["oracle.late_gauge", 7, 1_700_000_000u64], "kwargs": {"tags": ["a:b"]}},
        {"op": "count_with_timestamp", "args": ["oracle.late_count", 4, 1_700_000_060u64], "kwargs": {"tags": ["a:b"]}},
    ])));
    let mine = parse_all(&ours(
        |b| b,
        || {
            GaugeHandle::register("oracle.late_gauge", &[("a", "b")]).set_at(7.0, 1_700_000_000);
            CounterHandle::register("oracle.late_count", &[("a", "b")])
                .increment_at(4, 1_700_000_060);
        },
    ));
    assert_eq!(theirs.len(), 2);
    for t in &theirs {
        assert!(mine.contains(t), "{t:?} not in {mine:?}");
    }
}

fn sample_rates() {
    let ops: Vec<_> = (0..64)
        .map(|_| serde_json::json!({"op": "distribution", "args": ["oracle.sampled", 1], "kwargs": {"sample_rate": 0.5, "tags": ["s:1"]}}))
        .collect();
    let theirs = parse_all(&official(serde_json::Value::Array(ops)));
    let mine = parse_all(&ours(
        |b| b,
        || {
            let d = DistributionHandle::register_sampled("oracle.sampled", &[("s", "1")], 0.5);
            (0..64).for_each(|_| d.record(1.0));
        },
    ));
    let t = theirs.first().expect("some sampled points arrive");
    let m = mine.first().expect("some sampled points arrive");
    assert_eq!(
        (m.kind, m.sample_rate, &m.tags),
        (t.kind, t.sample_rate, &t.tags)
    );
    let kept: usize = mine.iter().map(|m| m.values.len()).sum();
    assert!(
        kept > 8 && kept < 56,
        "client-side sampling keeps about half: {kept}"
    );
}

fn other_types_through_the_encoder() {
    let theirs = official(serde_json::json!([
        {"op": "histogram", "args": ["oracle.h", 12], "kwargs": {"tags": ["k:v"]}},
        {"op": "timing", "args": ["oracle.ms", 250], "kwargs": {"tags": ["k:v"]}},
        {"op": "set", "args": ["oracle.set", 42], "kwargs": {"tags": ["k:v"]}},
    ]));
    let mut enc = Encoder::new(1432);
    let mut mine = Vec::new();
    for (name, kind, v) in [
        ("oracle.h", MetricType::Histogram, 12.0),
        ("oracle.ms", MetricType::Timing, 250.0),
        ("oracle.set", MetricType::Set, 42.0),
    ] {
        let suffix = Suffix::new(kind, None, "k:v", None, "");
        enc.encode(name, &[v], &suffix, &mut |d| {
            mine.push(String::from_utf8_lossy(d).into_owned())
        });
        enc.finish(&mut |d| mine.push(String::from_utf8_lossy(d).into_owned()));
    }
    assert_eq!(parse_all(&theirs), parse_all(&mine));
}

fn events_and_service_checks() {
    let client = serde_json::json!({"constant_tags": ["env:dev"], "container_id": "ci-abc"});
    let theirs = official(serde_json::json!([
        {"op": "event", "args": ["daily_etl failed", "spark: executor lost\nretry 3"], "kwargs": {
            "alert_type": "error", "aggregation_key": "daily_etl", "source_type_name": "pipeline",
            "date_happened": 1_700_000_000u64, "priority": "low", "tags": ["pipeline:daily_etl"], "hostname": "worker-1"}, "client": client},
        {"op": "service_check", "args": ["pipeline.daily_etl.can_run", 2], "kwargs": {
            "tags": ["pipeline:daily_etl"], "timestamp": 1_700_000_000u64, "hostname": "worker-1",
            "message": "spark down\nm:retrying"}, "client": client},
    ]));
    let mine = ours(
        |b| b.with_env("dev").with_container_id("ci-abc"),
        || {
            pipeline_telemetry_dogstatsd::send_event(
                Event::new("daily_etl failed", "spark: executor lost\nretry 3")
                    .with_alert_type(AlertType::Error)
                    .with_aggregation_key("daily_etl")
                    .with_source_type("pipeline")
                    .with_timestamp(1_700_000_000)
                    .with_priority(Priority::Low)
                    .with_tag("pipeline", "daily_etl")
                    .with_hostname("worker-1"),
            );
            pipeline_telemetry_dogstatsd::send_service_check(
                ServiceCheck::new("pipeline.daily_etl.can_run", CheckStatus::Critical)
                    .with_tag("pipeline", "daily_etl")
                    .with_timestamp(1_700_000_000)
                    .with_hostname("worker-1")
                    .with_message("spark down\nm:retrying"),
            );
        },
    );
    let their_lines: Vec<_> = theirs
        .iter()
        .flat_map(|d| d.lines().map(fields).collect::<Vec<_>>())
        .collect();
    let my_lines: Vec<_> = mine
        .iter()
        .flat_map(|d| d.lines().map(fields).collect::<Vec<_>>())
        .collect();
    assert_eq!(their_lines.len(), 2, "{theirs:?}");
    for t in &their_lines {
        assert!(my_lines.contains(t), "{t:?} not in {my_lines:?}");
    }
}
