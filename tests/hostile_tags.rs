//! Hostile names and tag values never split or inject a line; empty
//! names and values get the documented placeholder; `DD_TAGS` is cleaned
//! like every other tag.

use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_dogstatsd::parse::parse_datagram;
use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, Target, EMPTY_TAG_VALUE};
use pipeline_telemetry_test_support::UdpReceiver;

const HOSTILE: &[&str] = &[
    "a|#x:1\nevil:1|c",
    "evil:1|c\nevil:2|c",
    "x,evil:1",
    "#evil",
    "@0.5|evil",
    "\r\n\0evil:1|g",
    "é|ü\u{2028}evil",
];

#[test]
fn no_input_can_inject_a_metric_line() {
    let _s = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
        .with_tags_str("team:a|b\nevil:1|c")
        .install()
        .expect("start");
    for (i, h) in HOSTILE.iter().enumerate() {
        let run = PipelineRun::start(h, *h);
        // A stage named by hostile input (leaked: a test's stage is static).
        let stage: &'static Stage = Box::leak(Box::new(Stage::new(h)));
        run.record_records(stage, i as u64 + 1);
        run.finish();
        metrics::counter!(format!("hostile.{h}"), "k" => h.to_string()).increment(1);
        metrics::histogram!("hostile.histogram", *h => *h).record(1.0);
        metrics::gauge!("hostile.gauge", "q" => h.to_string()).set(2.0);
    }
    drop(guard);
    let datagrams = receiver.drain(Duration::from_millis(300));
    let mut lines = 0;
    for d in &datagrams {
        let text = std::str::from_utf8(d).expect("utf-8");
        for m in parse_datagram(text).unwrap_or_else(|e| panic!("{e}")) {
            lines += 1;
            assert!(
                m.name.starts_with("pipeline.")
                    || m.name == "prefect.flow.duration"
                    || m.name.starts_with("hostile."),
                "injected line: {m:?}"
            );
            assert!(m
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'));
            assert!(m.sample_rate.is_none() && m.timestamp.is_none(), "{m:?}");
            for t in &m.tags {
                assert!(!t.contains(['|', '#', ',', '\n', '\r', '@', '\0']), "{t:?}");
            }
            assert_eq!(m.tag("team"), Some("a_b_evil:1_c"), "{m:?}");
        }
    }
    // 7 × (runs + flow duration + records + counter + histogram + gauge):
    // a line per series, none more.
    assert_eq!(lines, HOSTILE.len() * 6);
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn catalogue_tags_always_carry_a_value_and_dd_tags_are_cleaned() {
    let _s = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = UdpReceiver::bind().expect("bind");
    let dd_tags = "team:data 1region:eu-west ,#owner:x|y 42 :: -:- bare:";
    let guard = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_env_tags_from(|k| (k == "DD_TAGS").then(|| dd_tags.to_owned()))
        .start()
        .expect("start");
    let run = PipelineRun::start("", "");
    static UNNAMED: Stage = Stage::new("");
    run.record_records(&UNNAMED, 3);
    run.finish();
    drop(guard);
    let datagrams = receiver.drain(Duration::from_millis(300));
    let metrics: Vec<_> = datagrams
        .iter()
        .flat_map(|d| parse_datagram(std::str::from_utf8(d).expect("utf-8")).expect("parses"))
        .collect();
    let runs = metrics
        .iter()
        .find(|m| m.name == "pipeline.runs")
        .unwrap_or_else(|| panic!("no pipeline.runs: {metrics:?}"));
    assert_eq!(runs.tag("pipeline"), Some(EMPTY_TAG_VALUE), "{runs:?}");
    let records = metrics
        .iter()
        .find(|m| m.name == "pipeline.records")
        .unwrap_or_else(|| panic!("no pipeline.records: {metrics:?}"));
    assert_eq!(records.tag("stage"), Some(EMPTY_TAG_VALUE), "{records:?}");
    for m in &metrics {
        // Every catalogue tag carries a value.
        for t in &m.tags {
            let (k, v) = t.split_once(':').unwrap_or((t, ""));
            if ["pipeline", "stage", "flow", "status", "error_type"].contains(&k) {
                assert!(!v.is_empty(), "{m:?}");
            }
            // Every tag starts with a letter, as Datadog requires.
            assert!(
                t.chars().next().is_some_and(char::is_alphabetic),
                "{t:?} in {m:?}"
            );
        }
        // DD_TAGS, cleaned: entries without a letter are dropped.
        let global: Vec<&str> = m
            .tags
            .iter()
            .map(String::as_str)
            .filter(|t| {
                !t.starts_with("pipeline:")
                    && !t.starts_with("stage:")
                    && !t.starts_with("flow:")
                    && !t.starts_with("status:")
            })
            .collect();
        assert_eq!(
            global,
            ["team:data", "region:eu-west", "owner:x_y", "bare"],
            "{m:?}"
        );
    }
}
