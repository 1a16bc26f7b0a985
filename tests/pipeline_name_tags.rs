//! The `flow` tag of a run's `prefect.flow.duration` and the `pipeline` tag
//! of its other metrics carry the same value for every pipeline name: long
//! ones (past the 200-character tag limit of `key:value`, where the two
//! keys' lengths differ), multi-byte ones, and hostile ones (separators,
//! newlines, nothing but punctuation, empty). Checked on the datagrams a
//! real UDP socket receives.

use std::collections::BTreeSet;
use std::time::Duration;

use pipeline_telemetry::testing::{parse_datagram, ParsedMetric};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};
use pipeline_telemetry_test_support::UdpReceiver;

#[instrument_stage]
fn load() -> Result<(), std::io::Error> {
    pipeline_telemetry::record_records(1);
    Ok(())
}

fn names() -> Vec<String> {
    vec![
        format!("nightly_{}", "x".repeat(185)),
        format!("nightly_{}", "y".repeat(300)),
        format!("é{}", "ü".repeat(250)),
        "ingest|c#evil:1,tag\nnext:2|d".to_owned(),
        "@@@".to_owned(),
        String::new(),
        format!("{}|{}", "a".repeat(190), "b".repeat(20)),
    ]
}

#[test]
fn flow_and_pipeline_tags_are_equal_for_every_name() {
    let receiver = UdpReceiver::bind().expect("bind a UDP socket on 127.0.0.1");
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Udp(receiver.addr()))
        .with_flush_interval(Duration::from_millis(100))
        .without_otel()
        .quiet()
        .try_init()
        .expect("init");
    let mut reported = Vec::new();
    for (i, name) in names().iter().enumerate() {
        let run = PipelineRun::start(name, i);
        run.in_scope(load).expect("load");
        reported.push(run.pipeline().to_owned());
        run.finish();
    }
    drop(telemetry);

    let mut m: Vec<ParsedMetric> = Vec::new();
    for d in receiver.drain(Duration::from_millis(300)) {
        let text = std::str::from_utf8(&d).expect("utf-8");
        m.extend(parse_datagram(text).unwrap_or_else(|e| panic!("unparseable: {e}")));
    }
    let flows: BTreeSet<&str> = m
        .iter()
        .filter(|p| p.name == "prefect.flow.duration")
        .filter_map(|p| p.tag("flow"))
        .collect();
    for metric in [
        "pipeline.runs",
        "pipeline.stage.duration",
        "pipeline.records",
    ] {
        let pipelines: BTreeSet<&str> = m
            .iter()
            .filter(|p| p.name == metric)
            .filter_map(|p| p.tag("pipeline"))
            .collect();
        assert_eq!(pipelines, flows, "{metric}");
    }
    // Each name is one value, the one the run reports as its pipeline.
    let reported: BTreeSet<&str> = reported.iter().map(String::as_str).collect();
    assert_eq!(flows, reported);
    assert_eq!(
        flows.len(),
        names().len(),
        "distinct names stay apart: {flows:?}"
    );
    for v in &flows {
        assert!(v.chars().count() <= 191, "{v}");
        assert!(!v.contains(['|', ',', '#', '\n']), "{v:?}");
    }
}
