//! The global install, the console default when no Agent is configured,
//! configuration errors, and the non-blocking bounded queue. Needs no agent.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pipeline_telemetry_otel::{InstallError, OtelBuilder, Protocol, TracesExport};
use tracing_subscriber::Registry;

#[test]
fn install_once_then_refuse_and_print_spans_to_the_console_by_default() {
    let console = Captured::default();
    let logs = Captured::default();
    let guard = OtelBuilder::new("pt-install")
        .with_console_writer(console.clone())
        .with_log_writer(logs.clone())
        .install()
        .expect("first install");
    assert_eq!(guard.traces_export(), TracesExport::Console);
    {
        let run = run_span("nightly", "42");
        let _run = run.enter();
        let stage = stage_span("extract", "nightly", "42");
        let _stage = stage.enter();
        tracing::info!(target: "pipeline_telemetry", "hello from a stage");
        // The global propagator is the W3C one.
        let mut headers = std::collections::HashMap::new();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&pipeline_telemetry_otel::span_context(&stage), &mut headers)
        });
        assert!(headers.contains_key("traceparent"), "{headers:?}");
    }
    let second = OtelBuilder::new("again")
        .with_traces(TracesExport::Off)
        .install();
    assert!(matches!(
        second,
        Err(InstallError::GlobalSubscriberAlreadySet(_))
    ));
    guard.shutdown(Duration::from_secs(5)).expect("flushed");

    let out = console.text();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("no Datadog Agent configured")
            && lines[0].contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{out}"
    );
    let stage_line = lines
        .iter()
        .find(|l| l.starts_with("span pipeline.stage "))
        .unwrap_or_else(|| panic!("stage summary in {out}"));
    assert!(
        stage_line.contains("pipeline_id=42")
            && stage_line.contains("stage=extract")
            && stage_line.contains("parent=")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("span pipeline.run ") && !l.contains("parent=")),
        "{out}"
    );

    let logs = logs.text();
    assert!(
        logs.contains("hello from a stage") && logs.contains("pipeline.stage{"),
        "{logs}"
    );
    assert!(
        !logs.trim_start().starts_with('{'),
        "human format by default: {logs}"
    );
}

#[test]
fn invalid_settings_are_reported_not_panicked() {
    let https = OtelBuilder::new("x")
        .with_endpoint("https://agent:4317")
        .build_layer::<Registry>();
    assert!(matches!(https, Err(InstallError::Config(ref e)) if e.setting == "with_endpoint"));
    let filter = OtelBuilder::new("x")
        .with_traces(TracesExport::Off)
        .with_log_filter("info,[=bad")
        .build_layer::<Registry>();
    assert!(matches!(filter, Err(InstallError::Filter { .. })));
    let header = OtelBuilder::new("x")
        .with_endpoint("http://127.0.0.1:4318")
        .with_header("bad header", "v")
        .build_layer::<Registry>();
    assert!(matches!(header, Err(InstallError::Config(_))));
}

#[test]
fn lenient_build_reports_each_problem_and_runs_what_works() {
    use tracing_subscriber::layer::SubscriberExt;
    let logs = Captured::default();
    let (layer, guard, problems) = OtelBuilder::new("x")
        .with_endpoint("https://agent:4317")
        .with_log_filter("info,[=bad")
        .with_log_writer(logs.clone())
        .build_layer_lenient::<Registry>()
        .expect("lenient build");
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("invalid with_endpoint \"https://agent:4317\": ")
            && lines[0].ends_with("; spans are not exported"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("invalid filter directives for log filter (RUST_LOG): ")
            && lines[1].ends_with("; logging at `info`"),
        "{lines:?}"
    );
    assert!(problems.iter().all(|p| p.is_error()));
    // Spans are off, the log lines run at `info`.
    assert_eq!(guard.traces_export(), TracesExport::Off);
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        tracing::info!("kept at info");
        tracing::debug!("below info");
    });
    let text = logs.text();
    assert!(
        text.contains("kept at info") && !text.contains("below info"),
        "{text}"
    );

    let (_layer, guard, problems) = OtelBuilder::new("x")
        .with_endpoint("http://127.0.0.1:4317")
        .with_header("bad header", "v")
        .with_log_writer(std::io::sink)
        .build_layer_lenient::<Registry>()
        .expect("lenient build");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0]
        .to_string()
        .starts_with("invalid with_header (name) \"bad header\""));
    assert_eq!(guard.traces_export(), TracesExport::Off);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    // A loopback port with nobody listening: every export fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let (layer, guard) = OtelBuilder::new("pt-queue")
        .with_endpoint(format!("http://{closed}"))
        .with_protocol(Protocol::HttpProtobuf)
        .with_queue_size(8)
        .with_max_batch_size(4)
        .with_export_timeout(Duration::from_millis(300))
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
        .expect("build");
    use tracing_subscriber::layer::SubscriberExt;
    let start = Instant::now();
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        for i in 0..2_000 {
            let s = stage_span("spin", "p", &i.to_string());
            drop(s.enter());
        }
    });
    // Generous bounds (a loaded machine stalls for seconds): they catch a
    // pipeline held by the failing exports or a shutdown that never ends.
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "the pipeline was slowed: {:?}",
        start.elapsed()
    );
    let stats = guard.stats();
    assert!(stats.spans.dropped > 0, "{stats:?}");
    let start = Instant::now();
    let _ = guard.shutdown(Duration::from_millis(500));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "shutdown wait is bounded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_export_needs_no_runtime_and_the_guard_drops_inside_one() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let (layer, guard) = OtelBuilder::new("pt-async")
        .with_endpoint(format!("http://{closed}"))
        .with_protocol(Protocol::Grpc)
        .with_export_timeout(Duration::from_millis(200))
        .with_shutdown_timeout(Duration::from_secs(2))
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
        .expect("build");
    use tracing_subscriber::layer::SubscriberExt;
    let dispatch = tracing::Dispatch::new(Registry::default().with(layer));
    tracing::dispatcher::with_default(&dispatch, || drop(stage_span("s", "p", "1").entered()));
    let start = Instant::now();
    drop(guard); // inside the runtime: must neither panic nor hang
    assert!(start.elapsed() < Duration::from_secs(10)); // 2 s timeout, generous bound
}
