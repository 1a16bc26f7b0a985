//! The README's example as a user with a stock Datadog Agent runs it: only
//! `DD_AGENT_HOST` and the Agent's APM port, no OTLP variable, no change to
//! the Agent. Its own Datadog APM test agent stands in for the Agent (no
//! session token: the example sends none; `agent::OwnAgent`), with
//! Datadog's trace checks on.
//! Every run and stage span arrives at the trace intake, and the checks
//! report nothing.

use std::collections::HashMap;
use std::process::Command;

use pipeline_telemetry_test_support::agent::OwnAgent;
use pipeline_telemetry_test_support::{example, UdpReceiver};
use serde_json::Value;

fn meta<'a>(s: &'a Value, k: &str) -> &'a str {
    s["meta"][k].as_str().unwrap_or_default()
}

#[test]
fn the_readme_example_reaches_a_stock_agents_trace_intake() {
    let dir = std::env::temp_dir().join(format!("pt-readme-agent-{}", std::process::id()));
    let own = OwnAgent::start(&dir);
    let url = own.agent.trace_url.clone();
    let port = url.rsplit(':').next().expect("port").to_owned();
    let metrics = UdpReceiver::bind().expect("bind");
    let mut cmd = Command::new(example::exe("etl_pipeline"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k.starts_with("DD_") || k.starts_with("PIPELINE_TELEMETRY_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .env("DD_AGENT_HOST", "127.0.0.1")
        .env("DD_TRACE_AGENT_PORT", &port)
        // The metrics to this test's receiver, not to a real Agent's 8125.
        .env("DD_DOGSTATSD_PORT", metrics.port().to_string())
        .env("DD_SERVICE", "etl")
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "pipeline-telemetry: spans go to the Datadog Agent's trace intake at http://127.0.0.1:{port} \
             (from DD_AGENT_HOST and DD_TRACE_AGENT_PORT)"
        )),
        "the choice is said once: {stderr}"
    );
    assert_eq!(stderr.matches("spans go to").count(), 1);

    let body = reqwest::blocking::get(format!("{url}/test/traces"))
        .and_then(|r| r.text())
        .expect("the test agent's traces");
    let traces: Vec<Value> = serde_json::from_str(&body).expect("JSON traces");
    let spans: Vec<&Value> = traces
        .iter()
        .flat_map(|t| t.as_array().into_iter().flatten())
        .collect();
    // Four runs: three of 1 run + 3 batches x 4 stages + publish spans,
    // and run 3, failing in its third batch's spark stage.
    assert_eq!(spans.len(), 3 * 14 + 12, "every run and stage span");
    let mut by_trace: HashMap<u64, Vec<&Value>> = HashMap::new();
    for s in &spans {
        by_trace
            .entry(s["trace_id"].as_u64().expect("trace id"))
            .or_default()
            .push(s);
    }
    assert_eq!(by_trace.len(), 4, "one trace per run");
    for trace in by_trace.values() {
        let runs: Vec<_> = trace
            .iter()
            .filter(|s| s["name"] == "pipeline.run")
            .collect();
        assert_eq!(runs.len(), 1);
        let run = runs[0];
        assert_eq!(
            (run["resource"].as_str(), run["service"].as_str()),
            (Some("daily_etl"), Some("etl"))
        );
        for s in trace.iter().filter(|s| s["name"] == "pipeline.stage") {
            assert_eq!(s["parent_id"], run["span_id"]);
            assert_eq!(s["resource"].as_str(), Some(meta(s, "stage")));
            assert_eq!(meta(s, "pipeline_id"), meta(run, "pipeline_id"));
            assert_eq!(s["metrics"]["_dd.measured"], 1.0);
        }
        let failed = meta(run, "pipeline_id") == "3";
        assert_eq!(run["error"], i64::from(failed), "{run:#?}");
        if failed {
            let spark = trace
                .iter()
                .find(|s| s["resource"] == "spark" && s["error"] == 1)
                .expect("the failed spark stage");
            assert_eq!(meta(spark, "error.message"), "executor lost");
        }
    }
    let failures = reqwest::blocking::get(format!("{url}/test/trace_check/failures"))
        .expect("the trace check failures");
    assert!(
        failures.status().is_success(),
        "trace checks failed: {}",
        failures.text().unwrap_or_default()
    );
    drop(own);
    let _ = std::fs::remove_dir_all(&dir);
}
