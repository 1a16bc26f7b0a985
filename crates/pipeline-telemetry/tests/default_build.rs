//! What `cargo add pipeline-telemetry` gets: no OTLP transport. Spans reach
//! the Agent's own trace intake (the test agent's), and OTLP asked for is
//! refused with the feature it needs named, never sent over a transport
//! nobody chose.
//!
//! `scripts/test-all.sh` runs this crate's tests again with
//! `PT_DEFAULT_BUILD=1` (`cargo test -p pipeline-telemetry`), which builds
//! it with its default features only, and there the refusal must hold. Inside `cargo test --workspace` other packages turn the OTLP
//! features on: the refusal is then not checked, and the test says so.
#![cfg(feature = "traces")]

mod not_built;

use not_built::config_error;
use pipeline_telemetry::otel::{Protocol, TracesExport};
use pipeline_telemetry::{MetricsTarget, Stage, TelemetryBuilder};
use pipeline_telemetry_test_support::agent::{self, token, TOKEN_HEADER};
use pipeline_telemetry_test_support::native::{poll_native_spans, trace_check_failures};

static LOAD: Stage = Stage::new("load");

fn builder() -> TelemetryBuilder {
    TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Console)
        .quiet()
}

// One test in this binary: it installs the global subscriber.
#[test]
fn the_default_build_sends_spans_to_the_trace_intake_and_refuses_otlp() {
    let default_build = std::env::var_os("PT_DEFAULT_BUILD").is_some();
    if Protocol::Grpc.is_built_in() || Protocol::HttpProtobuf.is_built_in() {
        assert!(
            !default_build,
            "PT_DEFAULT_BUILD is set but this build has an OTLP transport: \
             another package turned the feature on"
        );
        eprintln!("OTLP refusal not checked: another package of this build turned OTLP on");
    } else {
        // gRPC implied by the port: named as the endpoint, with the feature.
        let err = config_error(
            builder()
                .with_otel(|o| o.with_endpoint("http://127.0.0.1:4317"))
                .try_init(),
            "OTLP",
        );
        assert_eq!(err.setting, "with_endpoint");
        assert!(
            err.reason
                .contains("needs the `otlp` feature of pipeline-telemetry"),
            "{err}"
        );
        // Named as the protocol.
        let err = config_error(
            builder()
                .with_otel(|o| o.with_protocol(Protocol::HttpProtobuf))
                .try_init(),
            "OTLP",
        );
        assert_eq!(err.setting, "with_protocol");
        assert!(err.reason.contains("`otlp-http` feature"), "{err}");
    }

    // The trace intake, end to end, whatever else is built.
    let token = token("default-build");
    let url = agent::agent().trace_url.clone();
    let guard = builder()
        .with_otel(|o| {
            o.with_service("pt-default-build")
                .with_trace_agent_url(&url)
                .with_header(TOKEN_HEADER, &token)
                .with_log_writer(std::io::sink)
        })
        .try_init()
        .expect("init");
    assert_eq!(
        guard.otel().expect("traces set up").traces_export(),
        TracesExport::Datadog
    );
    let rows = LOAD.run(|| -> Result<u64, std::io::Error> { Ok(42) });
    assert_eq!(rows.expect("the stage's result"), 42);
    drop(guard);

    let spans = poll_native_spans(&token, |s| !s.is_empty());
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0]["service"], "pt-default-build");
    assert_eq!(spans[0]["resource"], "load");
    assert_eq!(trace_check_failures(&token), None);
}
