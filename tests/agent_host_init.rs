//! `init()` with an Agent host that does not resolve (the usual Kubernetes
//! service name before DNS has it) succeeds: the failure is counted, not
//! fatal, and the exporter keeps trying. And pipeline names are bounded
//! like series: past the table's limit a new name becomes `other` on the
//! wire, counted in the client telemetry. (Each in its own test binary:
//! both change process-wide state.)

use std::time::Duration;

use pipeline_telemetry::{PipelineRun, TelemetryBuilder};
use pipeline_telemetry_dogstatsd::OTHER;
use pipeline_telemetry_test_support::UdpReceiver;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn init_succeeds_when_the_agent_host_does_not_resolve() {
    let _s = serial();
    std::env::remove_var("DD_DOGSTATSD_URL");
    std::env::set_var("DD_AGENT_HOST", "pt-no-such-agent.invalid");
    let telemetry = TelemetryBuilder::from_env()
        .without_otel()
        .init()
        .expect("init() succeeds although the Agent's host does not resolve");
    std::env::remove_var("DD_AGENT_HOST");
    let run = PipelineRun::start("unresolved", "1");
    run.finish();
    telemetry.flush();
    let stats = telemetry.stats();
    assert_eq!(stats.packets_sent, 0, "{stats:?}");
    assert!(stats.packets_dropped > 0, "dropped and counted: {stats:?}");
    drop(telemetry);
}

#[test]
fn pipeline_names_past_the_limit_become_other() {
    let _s = serial();
    const NAMES: usize = 5_000;
    let rx = UdpReceiver::bind().expect("bind");
    let telemetry = TelemetryBuilder::from_env()
        .without_otel()
        .with_metrics_target(pipeline_telemetry_dogstatsd::Target::Udp(rx.addr()))
        .init()
        .expect("init");
    let before = telemetry.stats().series_folded;
    let lines = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            rx.lines_until(Duration::from_secs(30), |l| {
                l.iter().any(|l| l.starts_with("names.sentinel:"))
            })
        });
        // Flushed in batches, read as they come.
        for chunk in 0..NAMES / 500 {
            for i in chunk * 500..(chunk + 1) * 500 {
                PipelineRun::start(&format!("data-derived-{i}"), i).finish();
            }
            telemetry.flush();
        }
        pipeline_telemetry_dogstatsd::CounterHandle::register("names.sentinel", &[]).increment(1);
        telemetry.flush();
        reader.join().expect("reader")
    });
    let folded = telemetry.stats().series_folded - before;
    drop(telemetry);
    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l.starts_with("pipeline.runs:"))
        .map(|l| pipeline_telemetry_dogstatsd::parse::parse_line(l).expect("parses"))
        .collect();
    let total: f64 = runs.iter().flat_map(|m| m.values.iter()).sum();
    assert_eq!(total, NAMES as f64, "every run is counted once");
    let other: f64 = runs
        .iter()
        .filter(|m| m.tag("pipeline") == Some(OTHER))
        .flat_map(|m| m.values.iter())
        .sum();
    let named = runs
        .iter()
        .filter(|m| m.tag("pipeline") != Some(OTHER))
        .count();
    assert!(named <= 4_096, "the name table is bounded: {named} names");
    assert!(other >= (NAMES - 4_096) as f64, "{other}");
    assert!(folded >= other as u64, "folds counted: {folded} < {other}");
}
