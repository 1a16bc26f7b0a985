//! Trace sampling never thins the DogStatsD metrics: with
//! `DD_TRACE_SAMPLE_RATE=0` every trace is rejected (`USER_REJECT`, as the
//! injected headers say), and every run's and stage's counters and
//! durations still arrive, in full, over real UDP.
#![cfg(feature = "traces")]

use std::collections::BTreeMap;
use std::time::Duration;

use pipeline_telemetry::otel::TracesExport;
use pipeline_telemetry::testing::{parse_line, sum, values};
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, Stage, TelemetryBuilder};
use pipeline_telemetry_test_support::udp::UdpReceiver;

#[instrument_stage]
fn extract(n: u64) -> Result<u64, std::io::Error> {
    Ok(n)
}

#[test]
fn sample_rate_zero_leaves_metrics_whole() {
    const RUNS: u64 = 40;
    static EXTRACT: Stage = Stage::new("extract");
    let receiver = UdpReceiver::bind().expect("receiver");
    let target = MetricsTarget::parse_url(&receiver.url(), "test").expect("target");
    std::env::set_var("DD_TRACE_SAMPLE_RATE", "0");
    let builder = TelemetryBuilder::from_env();
    std::env::remove_var("DD_TRACE_SAMPLE_RATE");
    let telemetry = builder
        .with_metrics_target(target)
        .with_otel(|o| {
            o.with_traces(TracesExport::Console)
                .with_console_writer(std::io::sink)
                .with_log_writer(std::io::sink)
        })
        .quiet()
        .init()
        .expect("init");
    for i in 0..RUNS {
        let run = PipelineRun::start("sampled_out", i);
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        run.inject(&mut headers);
        assert_eq!(
            headers
                .get("x-datadog-sampling-priority")
                .map(String::as_str),
            Some("-1"),
            "the trace is rejected: {headers:?}"
        );
        let rows = run.in_scope(|| extract(5)).expect("extract");
        run.record_records(&EXTRACT, rows);
        run.finish();
    }
    telemetry.flush();
    telemetry
        .shutdown(Duration::from_secs(10))
        .expect("clean shutdown");
    let metrics: Vec<_> = receiver
        .drain_lines(Duration::from_millis(300))
        .iter()
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let p = [("pipeline", "sampled_out")];
    assert_eq!(
        sum(&metrics, "pipeline.runs", &p),
        RUNS as f64,
        "{metrics:#?}"
    );
    let stage = [("pipeline", "sampled_out"), ("stage", "extract")];
    assert_eq!(sum(&metrics, "pipeline.records", &stage), (5 * RUNS) as f64);
    assert_eq!(
        values(&metrics, "pipeline.stage.duration", &stage).len(),
        RUNS as usize,
        "{metrics:#?}"
    );
}
