//! No panic from any `Duration` a user can pass: `Duration::MAX` as batch
//! delay, export timeout, shutdown timeout and to the guard's `flush` and
//! `shutdown`, over both transports, against Datadog's APM test agent (the
//! spans still arrive: "no limit" is what was asked for).

mod common;

use std::time::Duration;

use common::*;
use pipeline_telemetry_otel::{OtelBuilder, Protocol, TracesExport};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

fn export_with_unbounded_durations(protocol: Protocol, endpoint: &str, how: &str) {
    let token = token(&format!(
        "max-duration-{}",
        protocol.as_str().replace('/', "-")
    ));
    let (layer, guard) = OtelBuilder::new("pt-durations")
        .with_endpoint(endpoint)
        .with_protocol(protocol)
        .with_header(TOKEN_HEADER, &token)
        .with_traces(TracesExport::Otlp)
        .with_batch_delay(Duration::MAX)
        .with_export_timeout(Duration::MAX)
        .with_shutdown_timeout(Duration::MAX)
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
        .expect("build layers");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        let run = run_span("durations", "1");
        let _entered = run.enter();
        drop(stage_span("load", "durations", "1").entered());
    });
    // With no timed export, only the flush sends the spans.
    guard.flush(Duration::MAX).expect("flush");
    match how {
        "shutdown" => guard.shutdown(Duration::MAX).expect("shutdown"),
        _ => drop(guard), // waits `with_shutdown_timeout`: no limit
    }
    let got = spans(&poll("traces", &token, |p| spans(p).len() >= 2));
    let mut names: Vec<&str> = got.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["pipeline.run", "pipeline.stage"]);
}

#[test]
fn duration_max_everywhere_over_grpc() {
    export_with_unbounded_durations(Protocol::Grpc, &agent::agent().otlp_grpc, "shutdown");
}

#[test]
fn duration_max_everywhere_over_http() {
    export_with_unbounded_durations(Protocol::HttpProtobuf, &agent::agent().otlp_http, "drop");
}

#[test]
fn zero_durations_neither_panic_nor_spin() {
    let (layer, guard) = OtelBuilder::new("pt-durations")
        .with_traces(TracesExport::Console)
        .with_console_writer(std::io::sink)
        .with_batch_delay(Duration::ZERO)
        .with_export_timeout(Duration::ZERO)
        .with_shutdown_timeout(Duration::ZERO)
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
        .expect("build layers");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        drop(stage_span("load", "durations", "1").entered());
    });
    // A zero wait may time out; it must not panic.
    let _ = guard.flush(Duration::ZERO);
    let _ = guard.shutdown(Duration::ZERO);
}
