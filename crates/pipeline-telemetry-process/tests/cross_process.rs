//! One trace across processes with a launcher nobody here wrote: a Python
//! parent using the OpenTelemetry SDK exports its flow span to the APM test
//! agent and starts this test binary (as the child) with `TRACEPARENT` and
//! `BAGGAGE` set; the child's run continues from its environment. The
//! agent must show one trace, the run span a child of the Python span.

mod common;

use std::process::Command;
use std::time::Duration;

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_test_support::{agent, python, workspace_root};

static CHILD_WORK: Stage = Stage::new("child_work");

/// Set in the child's environment: the session token to export under.
const CHILD_TOKEN: &str = "PT_CROSS_PROCESS_CHILD_TOKEN";

/// The child's side: does nothing unless started by the Python parent.
#[test]
fn child_entry() {
    let Ok(token) = std::env::var(CHILD_TOKEN) else {
        return;
    };
    let guard = pipeline_telemetry::TelemetryBuilder::from_env()
        .with_service("orchestrated-child")
        .with_metrics_target(pipeline_telemetry::MetricsTarget::Memory(
            pipeline_telemetry::testing::MemorySink::new(),
        ))
        .with_otel(|o| {
            o.with_endpoint(agent::agent().otlp_http.clone())
                .with_protocol(pipeline_telemetry::otel::Protocol::HttpProtobuf)
                .with_header(agent::TOKEN_HEADER, token)
        })
        .try_init()
        .expect("init");
    let run = PipelineRun::continue_from_env("orchestrated_child");
    run.in_scope(|| CHILD_WORK.run(|| Ok::<_, std::io::Error>(())))
        .expect("stage");
    run.finish();
    guard.shutdown(Duration::from_secs(10)).expect("shutdown");
}

#[test]
fn python_parent_and_rust_child_share_one_trace() {
    let token = agent::token("cross-process");
    let me = std::env::current_exe().expect("test binary");
    let out = Command::new(python::python())
        .arg(workspace_root().join("tests/fixtures/otel_launcher.py"))
        .arg(&agent::agent().otlp_http)
        .arg(&token)
        .arg("flow-run-77")
        .arg(&me)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_TOKEN, &token)
        // The child exports to this very agent (never one it would start).
        .env("PT_TEST_AGENT_URL", &agent::agent().trace_url)
        .env("PT_OTLP_HTTP_ENDPOINT", &agent::agent().otlp_http)
        .env("PT_OTLP_GRPC_ENDPOINT", &agent::agent().otlp_grpc)
        .output()
        .expect("python launcher");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "launcher failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut ids = stdout.lines().next().expect("ids line").split_whitespace();
    let (trace_id, flow_span_id) = (
        ids.next().expect("trace id").to_owned(),
        ids.next().expect("span id").to_owned(),
    );

    let spans = agent::poll_spans(&token, |s| {
        s.iter().any(|s| s.name == "prefect.flow.run")
            && s.iter().any(|s| s.name == "pipeline.stage")
    });
    let flow = spans
        .iter()
        .find(|s| s.name == "prefect.flow.run")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(flow.trace_id, trace_id);
    assert_eq!(flow.span_id, flow_span_id);
    assert_eq!(
        flow.resource.get("service.name").map(String::as_str),
        Some("prefect-flow")
    );
    let run = spans
        .iter()
        .find(|s| s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(run.trace_id, trace_id, "one trace");
    assert_eq!(run.parent_span_id.as_ref(), Some(&flow_span_id));
    assert_eq!(
        run.attributes.get("pipeline_id").map(String::as_str),
        Some("flow-run-77")
    );
    assert_eq!(
        run.resource.get("service.name").map(String::as_str),
        Some("orchestrated-child")
    );
    let stage = spans
        .iter()
        .find(|s| s.name == "pipeline.stage")
        .expect("stage");
    assert_eq!(stage.parent_span_id.as_ref(), Some(&run.span_id));
    assert!(spans.iter().all(|s| s.trace_id == trace_id), "{spans:#?}");
}

#[test]
fn hostile_environment_starts_a_fresh_trace() {
    let token = agent::token("hostile-env");
    let me = std::env::current_exe().expect("test binary");
    let out = Command::new(&me)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_TOKEN, &token)
        .env("PT_TEST_AGENT_URL", &agent::agent().trace_url)
        .env("PT_OTLP_HTTP_ENDPOINT", &agent::agent().otlp_http)
        .env("PT_OTLP_GRPC_ENDPOINT", &agent::agent().otlp_grpc)
        .env(
            "TRACEPARENT",
            "00-0AF7651916CD43DD8448EB211C80319C-+7ad6b7169203331-01\n",
        )
        .env("TRACESTATE", "x".repeat(20_000))
        .env("BAGGAGE", "pipeline_id=42\"}\n{\"status\":\"ok,%%%%")
        .env("PIPELINE_ID", "run 7; rm -rf /")
        .output()
        .expect("child");
    assert!(
        out.status.success(),
        "the child failed on a hostile environment: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = agent::poll_spans(&token, |s| s.iter().any(|s| s.name == "pipeline.stage"));
    let run = spans
        .iter()
        .find(|s| s.name == "pipeline.run")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(run.parent_span_id, None, "a fresh trace: {run:#?}");
    let id = run
        .attributes
        .get("pipeline_id")
        .cloned()
        .unwrap_or_default();
    assert!(
        !id.is_empty() && !id.contains(['"', ' ', ';', '\n']),
        "{id:?}"
    );
}
