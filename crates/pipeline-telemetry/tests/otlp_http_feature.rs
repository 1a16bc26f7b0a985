//! Without the `otlp-http` feature, asking for OTLP over HTTP/protobuf makes
//! `try_init` fail with a configuration error that names the feature and
//! the setting, whether it comes from code or from
//! `OTEL_EXPORTER_OTLP_PROTOCOL`: no panic, and no fall back to gRPC on a
//! port someone chose. `init` runs anyway (the child-process test in
//! `init_problems.rs` checks what it reports and that metrics arrive).
//! Compiled only in builds without the feature.
#![cfg(all(feature = "traces", not(feature = "otlp-http")))]

mod not_built;

use not_built::config_error;
use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry::{MetricsTarget, TelemetryBuilder};

// One test in this binary: it sets an environment variable.
#[test]
fn http_protobuf_needs_the_otlp_http_feature() {
    if Protocol::HttpProtobuf.is_built_in() {
        // Another package of this build turned on pipeline-telemetry-otel's
        // own `otlp-http` (e.g. `cargo test -p pipeline-telemetry-otel -p
        // pipeline-telemetry`, whose tests export over HTTP).
        eprintln!("skipped: HTTP/protobuf is built in through another package");
        return;
    }
    let builder = || {
        TelemetryBuilder::from_env()
            .with_metrics_target(MetricsTarget::Console)
            .quiet()
    };

    let err = config_error(
        builder()
            .with_otel(|o| {
                o.with_endpoint("http://127.0.0.1:4318")
                    .with_protocol(Protocol::HttpProtobuf)
            })
            .try_init(),
        "HTTP/protobuf",
    );
    assert_eq!(
        (err.setting.as_str(), err.value.as_str()),
        ("with_protocol", "http/protobuf")
    );
    assert!(
        err.reason
            .contains("`otlp-http` feature of pipeline-telemetry"),
        "{err}"
    );

    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
    let err = config_error(builder().try_init(), "HTTP/protobuf");
    assert_eq!(
        (err.setting.as_str(), err.value.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    );
    assert!(err.reason.contains("`otlp-http` feature"), "{err}");

    // An endpoint whose port implies HTTP/protobuf is refused the same way.
    std::env::remove_var("OTEL_EXPORTER_OTLP_PROTOCOL");
    let err = config_error(builder().try_init(), "HTTP/protobuf");
    assert_eq!(
        (err.setting.as_str(), err.value.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    );
    assert!(err.reason.contains("`otlp-http` feature"), "{err}");

    // `init` runs: metrics, and log lines; spans are not exported.
    let guard = builder()
        .init()
        .expect("init never fails on a tracing setting");
    let otel = guard.otel().expect("traces and logs set up");
    assert_eq!(
        otel.traces_export(),
        pipeline_telemetry::otel::TracesExport::Off
    );
}
