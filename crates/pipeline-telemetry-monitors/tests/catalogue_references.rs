//! Every query of the dashboard and the monitors names a catalogue metric
//! and only tag keys that metric carries.

use pipeline_telemetry_monitors::check::{check_dashboard, check_monitors, CheckError};
use pipeline_telemetry_monitors::dashboard::dashboard;
use pipeline_telemetry_monitors::guide::{guide_monitors, Routing};
use pipeline_telemetry_monitors::render::monitors_json;
use serde_json::{json, Value};

#[test]
fn dashboard_queries_reference_only_the_catalogue() {
    let checked = check_dashboard(&dashboard()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        checked.len() >= 10,
        "only {} queries found: {checked:?}",
        checked.len()
    );
}

#[test]
fn monitor_queries_reference_only_the_catalogue() {
    let text = monitors_json(&guide_monitors(&Routing::default()));
    let monitors: Value = serde_json::from_str(&text).expect("monitors JSON parses");
    let checked = check_monitors(&monitors).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(checked.len(), 3);
}

#[test]
fn the_check_catches_unknown_metrics_tags_and_variables() {
    let with_query = |q: &str| {
        let mut d = dashboard();
        d["widgets"] = json!([{"definition": {"requests": [{"queries": [{"data_source": "metrics", "query": q}]}]}}]);
        check_dashboard(&d)
    };
    assert!(matches!(
        with_query("avg:pipeline.stage.durations{*}"),
        Err(CheckError::UnknownMetric { .. })
    ));
    assert!(matches!(
        with_query("max:rabbitmq.queue.length{$pipeline}"),
        Err(CheckError::UnknownTagKey { key, .. }) if key == "pipeline"
    ));
    assert!(matches!(
        with_query("sum:pipeline.runs{*} by {pipeline_id}"),
        Err(CheckError::UnknownTagKey { key, .. }) if key == "pipeline_id"
    ));
    assert!(matches!(
        with_query("sum:pipeline.runs{$team}"),
        Err(CheckError::UnknownTemplateVariable { .. })
    ));
    assert!(matches!(
        with_query("sum:pipeline.runs{a AND b}"),
        Err(CheckError::Parse { .. })
    ));
}
