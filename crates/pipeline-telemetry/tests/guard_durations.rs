//! The guard takes any `Duration`: `shutdown(Duration::MAX)` flushes both
//! exporters and returns, never a panic (the DogStatsD flusher and the OTLP
//! threads both add the timeout to an `Instant`). The metrics recorded
//! before it arrive over real UDP.
#![cfg(feature = "traces")]

use std::time::Duration;

use pipeline_telemetry::otel::TracesExport;
use pipeline_telemetry::{MetricsTarget, TelemetryBuilder};
use pipeline_telemetry_test_support::udp::UdpReceiver;

#[test]
fn shutdown_with_duration_max_flushes_and_returns() {
    let receiver = UdpReceiver::bind().expect("receiver");
    let target = MetricsTarget::parse_url(&receiver.url(), "test").expect("target");
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(target)
        .with_otel(|o| {
            o.with_traces(TracesExport::Console)
                .with_console_writer(std::io::sink)
                .with_log_writer(std::io::sink)
                .with_shutdown_timeout(Duration::MAX)
        })
        .quiet()
        .init()
        .expect("init");
    metrics::counter!("pt.guard_durations").increment(3);
    telemetry.flush();
    telemetry.shutdown(Duration::MAX).expect("clean shutdown");
    let lines: Vec<String> = receiver.drain_lines(Duration::from_millis(200));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("pt.guard_durations:3|c")),
        "{lines:#?}"
    );
}
