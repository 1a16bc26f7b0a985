//! The docs give the exact searches and queries that are shipped: every
//! monitor query, the log searches, and every distribution whose
//! percentiles the dashboard needs.

use std::path::Path;

use pipeline_telemetry_monitors::dashboard_tf::percentile_metrics;
use pipeline_telemetry_monitors::guide::{
    as_written_no_pipelines_running, guide_monitors, Routing,
};
use pipeline_telemetry_monitors::logs::{
    run_logs_attribute_query, run_logs_query, FAILED_LOGS_QUERY, FAILED_LOGS_TAG_QUERY,
};

fn doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_quoted(text: &str, doc_name: &str, query: &str) {
    assert!(
        text.contains(&format!("`{query}`")),
        "{doc_name} does not give `{query}`"
    );
}

#[test]
fn dashboards_and_monitors_doc_gives_every_shipped_query() {
    let name = "dashboards-and-monitors.md";
    let text = doc(name);
    for monitor in guide_monitors(&Routing::default()) {
        assert_quoted(&text, name, &monitor.query.to_string());
    }
    let literal = as_written_no_pipelines_running(&Routing::default());
    assert_quoted(&text, name, &literal.query.to_string());
    assert_quoted(&text, name, "sum(last_5m):sum:pipeline.errors{*} > 0");
    for query in [
        FAILED_LOGS_QUERY,
        FAILED_LOGS_TAG_QUERY,
        "status:failed source:pipeline",
        &run_logs_query("42", "prefect"),
        &run_logs_attribute_query("42", "prefect"),
    ] {
        assert_quoted(&text, name, query);
    }
    for metric in percentile_metrics() {
        assert!(
            text.contains(&format!("- `{}`", metric.name)),
            "{name} does not list {} among the percentiles to enable",
            metric.name
        );
    }
}

#[test]
fn tracing_and_logs_doc_gives_the_log_searches() {
    let name = "tracing-and-logs.md";
    let text = doc(name);
    for query in [
        FAILED_LOGS_QUERY,
        &run_logs_query("42", "prefect"),
        &run_logs_attribute_query("42", "prefect"),
    ] {
        assert_quoted(&text, name, query);
    }
}
