//! The committed dashboard, monitors and metric catalogue are exactly what
//! the code generates.

use std::path::{Path, PathBuf};

use pipeline_telemetry_monitors::artifacts::{artifacts, REGENERATE_COMMAND};
use pipeline_telemetry_monitors::check::{check_dashboard, check_monitors};
use pipeline_telemetry_monitors::guide::Routing;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn committed_files_match_the_generated_ones() {
    let mut stale = Vec::new();
    for artifact in artifacts(&Routing::default()) {
        let path = repo_root().join(artifact.path);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == artifact.contents => {}
            Ok(_) => stale.push(format!("{} differs from the generated one", artifact.path)),
            Err(e) => stale.push(format!("{} cannot be read ({e})", artifact.path)),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nregenerate them with `{REGENERATE_COMMAND}` and commit the result",
        stale.join("\n")
    );
}

#[test]
fn committed_files_reference_only_the_catalogue() {
    let read = |p: &str| -> serde_json::Value {
        let text =
            std::fs::read_to_string(repo_root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let dashboard =
        check_dashboard(&read("dashboards/pipeline.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!dashboard.is_empty());
    let monitors =
        check_monitors(&read("monitors/monitors.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(monitors.len(), 3);
}

fn read(p: &str) -> String {
    std::fs::read_to_string(repo_root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn json(p: &str) -> serde_json::Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A committed Terraform file, parsed and evaluated by an HCL parser (no
/// variables or functions are declared, so any interpolation fails).
fn terraform(p: &str) -> serde_json::Value {
    hcl::eval::from_str(&read(p), &hcl::eval::Context::new())
        .unwrap_or_else(|e| panic!("{p} is not valid HCL: {e}"))
}

/// The blocks named `name` under `value` (one block or several).
fn blocks<'a>(value: &'a serde_json::Value, name: &str) -> Vec<&'a serde_json::Value> {
    match &value[name] {
        serde_json::Value::Array(items) => items.iter().collect(),
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    }
}

#[test]
fn the_dashboard_terraform_holds_the_dashboard_json() {
    let tf = terraform("dashboards/pipeline.tf");
    let text = tf["resource"]["datadog_dashboard_json"]["pipeline"]["dashboard"]
        .as_str()
        .unwrap_or_else(|| panic!("no dashboard string in {tf:#}"));
    let from_tf: serde_json::Value = serde_json::from_str(text).expect("the heredoc is JSON");
    assert_eq!(from_tf, json("dashboards/pipeline.json"));
}

#[test]
fn percentiles_are_enabled_for_every_distribution_the_dashboard_graphs_by_percentile() {
    // Independent of the generator: every `pNN:` query in the committed
    // dashboard names a metric that the committed Terraform enables.
    let dashboard = read("dashboards/pipeline.json");
    let mut wanted: Vec<String> = dashboard
        .split('"')
        .filter_map(|s| {
            let (aggr, rest) = s.split_once(':')?;
            let is_percentile = aggr.len() > 1
                && aggr.starts_with('p')
                && aggr[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
            is_percentile.then(|| rest.split('{').next().unwrap_or_default().to_owned())
        })
        .collect();
    wanted.sort();
    wanted.dedup();
    assert!(wanted.len() >= 3, "{wanted:?}");

    let tf = terraform("dashboards/percentiles.tf");
    let configs = &tf["resource"]["datadog_metric_tag_configuration"];
    let mut enabled: Vec<String> = configs
        .as_object()
        .expect("resources")
        .values()
        .map(|r| {
            assert_eq!(r["metric_type"], "distribution", "{r}");
            assert_eq!(r["include_percentiles"], true, "{r}");
            let name = r["metric_name"].as_str().expect("metric_name").to_owned();
            let def = pipeline_telemetry_catalogue::find(&name).expect("in the catalogue");
            for key in def.tags {
                assert!(
                    r["tags"].as_array().expect("tags").iter().any(|t| t == key),
                    "{name}: tag {key} must stay queryable"
                );
            }
            name
        })
        .collect();
    enabled.sort();
    assert_eq!(enabled, wanted);
}

#[test]
fn the_log_pipeline_terraform_and_json_agree() {
    let api = json("deploy/datadog/logs-pipeline.json");
    let tf = terraform("deploy/datadog/logs-pipeline.tf");
    let resource = &tf["resource"]["datadog_logs_custom_pipeline"]["pipeline_telemetry"];
    assert_eq!(resource["name"], api["name"]);
    assert_eq!(resource["is_enabled"], true);
    assert_eq!(resource["filter"]["query"], api["filter"]["query"]);
    let processors = blocks(resource, "processor");
    let api_processors = api["processors"].as_array().expect("processors");
    assert_eq!(processors.len(), api_processors.len());
    for (tf_p, api_p) in processors.iter().zip(api_processors) {
        // `attribute-remapper` in the API is `attribute_remapper` in Terraform.
        let kind = api_p["type"].as_str().expect("type").replace('-', "_");
        let body = &tf_p[kind.as_str()];
        assert!(body.is_object(), "{kind} expected in {tf_p}");
        for key in [
            "sources",
            "source_type",
            "target",
            "target_type",
            "preserve_source",
        ] {
            assert_eq!(body[key], api_p[key], "{kind}.{key}");
        }
        assert_eq!(body["is_enabled"], true);
    }
}
