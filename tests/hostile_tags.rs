//! Hostile names and tag values never split or inject a line.

use std::time::Duration;

use pipeline_telemetry::PipelineRun;
use pipeline_telemetry_dogstatsd::parse::parse_datagram;
use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, Target};
use pipeline_telemetry_suite::UdpReceiver;

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
    let receiver = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
        .with_tags_str("team:a|b\nevil:1|c")
        .install()
        .expect("start");
    for (i, h) in HOSTILE.iter().enumerate() {
        let run = PipelineRun::start(h, *h);
        run.record_records(h, i as u64 + 1);
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
                m.name.starts_with("pipeline.") || m.name.starts_with("hostile."),
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
    // 7 × (runs + records + counter + histogram + gauge): a line per series, none more.
    assert_eq!(lines, HOSTILE.len() * 5);
}
