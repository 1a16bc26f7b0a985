//! The facade end to end against Datadog's APM test agent: `init()` with
//! OTLP export, a pipeline run whose stages are sync, async, on a spawned
//! task and failing; then one trace, its structure and attributes, the
//! error, the resource, and the JSON log line correlated with the trace.

use std::time::Duration;

use pipeline_telemetry::otel::{LogFormat, Protocol};
use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};
use pipeline_telemetry_test_support::agent;
use pipeline_telemetry_test_support::capture::Captured;
use serde_json::Value;

#[derive(Debug)]
pub(crate) struct WarehouseError;
impl std::fmt::Display for WarehouseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse said \"no\"\nconnection reset")
    }
}
impl std::error::Error for WarehouseError {}

#[instrument_stage]
fn extract() -> Result<Vec<u32>, std::io::Error> {
    tracing::info!(rows = 3, "extracted");
    Ok(vec![1, 2, 3])
}

#[instrument_stage(stage = "dbt")]
async fn transform(rows: Vec<u32>) -> Result<usize, std::io::Error> {
    tokio::task::yield_now().await;
    Ok(rows.len())
}

#[instrument_stage]
async fn spark(n: usize) -> Result<usize, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    Ok(n * 2)
}

#[instrument_stage]
fn load(_n: usize) -> Result<(), WarehouseError> {
    Err(WarehouseError)
}

pub(crate) fn run(protocol: Protocol) {
    let (endpoint, label) = match protocol {
        Protocol::Grpc => (agent::agent().otlp_grpc.clone(), "grpc"),
        _ => (agent::agent().otlp_http.clone(), "http"),
    };
    let token = agent::token(&format!("facade-{label}"));
    let logs = Captured::default();
    let telemetry = TelemetryBuilder::from_env()
        .with_service("etl-worker")
        .with_env("staging")
        .with_version("2.0.1")
        .with_metrics_target(MetricsTarget::Memory(MemorySink::new()))
        .with_otel(|o| {
            o.with_endpoint(endpoint)
                .with_protocol(protocol)
                .with_header(agent::TOKEN_HEADER, token.clone())
                .with_log_format(LogFormat::Json)
                .with_log_writer(logs.clone())
        })
        .try_init()
        .expect("init");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let pipeline_id = format!("run-{label}-42");
    let result: Result<(), Box<dyn std::error::Error + Send + Sync>> = rt.block_on(async {
        let run = PipelineRun::start("daily_etl", &pipeline_id);
        let result = run
            .scope(async {
                let rows = extract()?;
                let n = transform(rows).await?;
                let n = tokio::spawn(run.scope(spark(n))).await??;
                load(n)?;
                Ok(())
            })
            .await;
        if let Err(e) = &result {
            run.fail(e);
        }
        result
    });
    assert!(result.is_err());
    telemetry
        .shutdown(Duration::from_secs(10))
        .expect("shutdown");

    let spans = agent::poll_spans(&token, |s| s.len() >= 5);
    assert_eq!(spans.len(), 5, "{spans:#?}");
    let trace = &spans[0].trace_id;
    assert!(
        spans.iter().all(|s| &s.trace_id == trace),
        "one trace per run"
    );
    let root = spans
        .iter()
        .find(|s| s.name == "pipeline.run")
        .expect("run span");
    assert_eq!(root.parent_span_id, None);
    assert_eq!(
        root.attributes.get("pipeline").map(String::as_str),
        Some("daily_etl")
    );
    assert_eq!(root.attributes.get("pipeline_id"), Some(&pipeline_id));
    assert_eq!(
        root.attributes.get("resource.name").map(String::as_str),
        Some("daily_etl")
    );
    // The failed run says why (what Datadog reads as error.msg/error.type):
    // the status description, `error.type`, and an `exception` event.
    assert!(
        root.status_code
            .as_deref()
            .is_some_and(|c| c.contains("ERROR")),
        "{root:#?}"
    );
    assert!(
        root.status_message
            .as_deref()
            .is_some_and(|m| m.contains("connection reset")),
        "{root:#?}"
    );
    assert_eq!(
        root.attributes.get("error.type").map(String::as_str),
        Some("WarehouseError"),
        "{root:#?}"
    );
    assert!(
        root.attributes
            .get("error.message")
            .is_some_and(|m| m.contains("connection reset")),
        "{root:#?}"
    );
    let root_exception = root
        .events
        .iter()
        .find(|(n, _)| n == "exception")
        .unwrap_or_else(|| panic!("no exception event on the run: {root:#?}"));
    assert_eq!(
        root_exception.1.get("exception.type").map(String::as_str),
        Some("WarehouseError")
    );
    for stage in ["extract", "dbt", "spark", "load"] {
        let s = spans
            .iter()
            .find(|s| {
                s.name == "pipeline.stage"
                    && s.attributes.get("stage").map(String::as_str) == Some(stage)
            })
            .unwrap_or_else(|| panic!("no span for {stage}: {spans:#?}"));
        assert_eq!(
            s.parent_span_id.as_ref(),
            Some(&root.span_id),
            "{stage} is a child of the run"
        );
        assert_eq!(s.attributes.get("pipeline_id"), Some(&pipeline_id));
        assert_eq!(
            s.attributes.get("operation.name").map(String::as_str),
            Some("pipeline.stage")
        );
        assert_eq!(
            s.attributes.get("resource.name").map(String::as_str),
            Some(stage)
        );
        // Measured: Datadog computes trace metrics for the stage spans too.
        assert_eq!(
            s.attributes.get("_dd.measured").map(String::as_str),
            Some("1"),
            "{s:#?}"
        );
        assert_eq!(
            s.resource.get("service.name").map(String::as_str),
            Some("etl-worker")
        );
        assert_eq!(
            s.resource
                .get("deployment.environment.name")
                .map(String::as_str),
            Some("staging")
        );
        assert_eq!(
            s.resource.get("service.version").map(String::as_str),
            Some("2.0.1")
        );
    }
    let failed = spans
        .iter()
        .find(|s| s.attributes.get("stage").map(String::as_str) == Some("load"))
        .expect("load");
    assert!(
        failed
            .status_code
            .as_deref()
            .is_some_and(|c| c.contains("ERROR")),
        "{failed:#?}"
    );
    assert!(
        failed
            .status_message
            .as_deref()
            .is_some_and(|m| m.contains("connection reset")),
        "{failed:#?}"
    );
    let exception = failed
        .events
        .iter()
        .find(|(n, _)| n == "exception")
        .expect("exception event");
    assert_eq!(
        exception.1.get("exception.type").map(String::as_str),
        Some("WarehouseError")
    );

    // The JSON log line of the failure is correlated with the exported trace.
    let text = logs.text();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let failure = lines
        .iter()
        .find(|l| l["message"] == "stage failed")
        .unwrap_or_else(|| panic!("no failure log line in {text}"));
    assert_eq!(failure["status"], "error");
    assert_eq!(failure["outcome"], "failed");
    assert_eq!(failure["ddsource"], "pipeline");
    assert_eq!(failure["service"], "etl-worker");
    assert_eq!(failure["stage"], "load");
    assert_eq!(failure["pipeline_id"].as_str(), Some(pipeline_id.as_str()));
    assert_eq!(failure["dd.service"], "etl-worker");
    assert_eq!(
        failure["dd.trace_id"].as_str(),
        Some(agent::dd_trace_id(trace).as_str())
    );
    let info = lines
        .iter()
        .find(|l| l["message"] == "extracted")
        .expect("info line");
    assert_eq!(info["stage"], "extract");
    assert_eq!(
        info["dd.trace_id"].as_str(),
        Some(agent::dd_trace_id(trace).as_str())
    );
}
