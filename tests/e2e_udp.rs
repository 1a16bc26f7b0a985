//! End to end over a real UDP socket: the emitter is pointed at a receiver
//! bound on loopback through Datadog's environment variables, a pipeline
//! runs sync, async and failing stages, the guard is dropped, and the
//! datagrams that arrived are checked line by line.

use std::time::Duration;

use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_dogstatsd::encoder::MetricType;
use pipeline_telemetry_dogstatsd::parse::{parse_datagram, ParsedMetric};
use pipeline_telemetry_test_support::UdpReceiver;

#[derive(Debug)]
struct SparkError(String);
impl std::fmt::Display for SparkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "spark job failed: {}", self.0)
    }
}
impl std::error::Error for SparkError {}

#[instrument_stage]
fn extract(i: u32) -> Result<Vec<u32>, std::io::Error> {
    let rows: Vec<u32> = (0..i % 7 + 1).collect();
    pipeline_telemetry::record_records(rows.len() as u64);
    Ok(rows)
}

#[instrument_stage(stage = "dbt")]
async fn transform(rows: Vec<u32>) -> Result<usize, std::io::Error> {
    tokio::task::yield_now().await;
    Ok(rows.len())
}

#[instrument_stage]
fn spark(run: u32) -> Result<(), SparkError> {
    if run == 3 {
        return Err(SparkError("executor lost".into()));
    }
    Ok(())
}

#[instrument_stage]
async fn load(n: usize) -> Result<usize, std::io::Error> {
    Ok(n)
}

const RUNS: u32 = 5;
const BATCHES: u32 = 40;

async fn run_pipeline(id: u32) -> Result<(), Box<dyn std::error::Error>> {
    let run = PipelineRun::start("daily_etl", id);
    let result: Result<(), Box<dyn std::error::Error>> = run
        .scope(async {
            for i in 0..BATCHES {
                let rows = extract(i)?;
                let n = transform(rows).await?;
                load(n).await?;
            }
            spark(id)?;
            Ok(())
        })
        .await;
    match &result {
        Ok(()) => run.finish(),
        Err(e) => run.fail(e),
    }
    result
}

fn sum(m: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> f64 {
    m.iter()
        .filter(|p| p.name == name && tags.iter().all(|(k, v)| p.tag(k) == Some(*v)))
        .flat_map(|p| p.values.iter())
        .sum()
}

fn count(m: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> usize {
    m.iter()
        .filter(|p| p.name == name && tags.iter().all(|(k, v)| p.tag(k) == Some(*v)))
        .map(|p| p.values.len())
        .sum()
}

#[test]
fn a_pipeline_reaches_a_real_udp_socket_through_the_env() {
    let receiver = UdpReceiver::bind().expect("bind a UDP socket on 127.0.0.1");
    // This test binary runs this single test, so setting the environment is safe.
    std::env::set_var("DD_DOGSTATSD_URL", receiver.url());
    std::env::set_var("DD_SERVICE", "etl-worker");
    std::env::set_var("DD_ENV", "staging");
    std::env::set_var("DD_VERSION", "1.4.2");
    std::env::set_var("DD_TAGS", "team:data,region:eu-west-1");

    let telemetry = pipeline_telemetry::init().expect("init");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut expected_records = 0u64;
    for i in 0..BATCHES {
        expected_records += u64::from(i % 7 + 1);
    }
    for id in 0..RUNS {
        let r = rt.block_on(run_pipeline(id));
        assert_eq!(r.is_err(), id == 3);
    }
    drop(telemetry);

    let datagrams = receiver.drain(Duration::from_millis(300));
    assert!(!datagrams.is_empty(), "nothing arrived");
    let mut m = Vec::new();
    for d in &datagrams {
        assert!(d.len() <= 1432, "datagram of {} bytes", d.len());
        let text = std::str::from_utf8(d).expect("utf-8");
        m.extend(parse_datagram(text).unwrap_or_else(|e| panic!("unparseable: {e}")));
    }

    for p in &m {
        assert_eq!(p.tag("service"), Some("etl-worker"), "{p:?}");
        assert_eq!(p.tag("env"), Some("staging"), "{p:?}");
        assert_eq!(p.tag("version"), Some("1.4.2"), "{p:?}");
        assert_eq!(p.tag("team"), Some("data"), "{p:?}");
        assert_eq!(p.tag("region"), Some("eu-west-1"), "{p:?}");
        assert!(
            !p.has_tag_key("pipeline_id"),
            "pipeline_id must not be a metric tag: {p:?}"
        );
        let want = match p.name.as_str() {
            "pipeline.runs" | "pipeline.errors" | "pipeline.records" => MetricType::Count,
            "pipeline.stage.duration" => MetricType::Distribution,
            "prefect.flow.duration" => MetricType::Distribution,
            other => panic!("unexpected metric {other}"),
        };
        if p.name == "prefect.flow.duration" {
            assert_eq!(p.tag("flow"), Some("daily_etl"), "{p:?}");
        } else {
            assert_eq!(p.tag("pipeline"), Some("daily_etl"), "{p:?}");
        }
        assert_eq!(p.kind, want, "{p:?}");
    }

    assert_eq!(sum(&m, "pipeline.runs", &[]), f64::from(RUNS));
    assert_eq!(
        sum(&m, "pipeline.records", &[("stage", "extract")]),
        (expected_records * u64::from(RUNS)) as f64
    );
    // Runs 0..=3 reach spark (run 3 fails there); run 4 too.
    let per_run = BATCHES as usize;
    for stage in ["extract", "dbt", "load"] {
        assert_eq!(
            count(
                &m,
                "pipeline.stage.duration",
                &[("stage", stage), ("status", "ok")]
            ),
            per_run * RUNS as usize,
            "{stage}"
        );
    }
    assert_eq!(
        count(
            &m,
            "pipeline.stage.duration",
            &[("stage", "spark"), ("status", "ok")]
        ),
        4
    );
    assert_eq!(
        count(
            &m,
            "pipeline.stage.duration",
            &[("stage", "spark"), ("status", "error")]
        ),
        1
    );
    assert_eq!(
        sum(
            &m,
            "pipeline.errors",
            &[("stage", "spark"), ("error_type", "SparkError")]
        ),
        1.0
    );
    // One error per failed stage call, none for the run: the run's failure
    // is its flow duration's status (failed runs / runs is one formula).
    assert_eq!(sum(&m, "pipeline.errors", &[]), 1.0);
    assert!(m.iter().all(|p| p.tag("stage") != Some("run")));
    assert_eq!(
        count(
            &m,
            "prefect.flow.duration",
            &[("flow", "daily_etl"), ("status", "ok")]
        ),
        RUNS as usize - 1
    );
    assert_eq!(
        count(
            &m,
            "prefect.flow.duration",
            &[("flow", "daily_etl"), ("status", "failed")]
        ),
        1
    );
    // Distributions are packed: many samples per line, many lines per datagram.
    assert!(m
        .iter()
        .any(|p| p.kind == MetricType::Distribution && p.values.len() > 1));
    assert!(datagrams.len() < m.len());
}
