//! No dead widgets: every metric the committed dashboard and monitors query
//! is in the catalogue, and some crate of the workspace emits it (its
//! source names the catalogue constant or the metric's name), apart from
//! the crates that only describe metrics (catalogue, dashboards, CLI, test
//! support).

use std::path::{Path, PathBuf};

use pipeline_telemetry_monitors::check::{check_dashboard, check_monitors};
use pipeline_telemetry_monitors::parse::parse_metric_query;

/// Crates that declare, graph or test metrics without emitting them.
const NOT_EMITTERS: &[&str] = &[
    "pipeline-telemetry-catalogue",
    "pipeline-telemetry-monitors",
    "pipeline-telemetry-cli",
    "pipeline-telemetry-test-support",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `pipeline.stage.duration` is declared as `PIPELINE_STAGE_DURATION`.
fn constant_name(metric: &str) -> String {
    metric.replace('.', "_").to_uppercase()
}

/// The crates whose library sources (`src/`) emit `metric`.
fn emitters(metric: &str) -> Vec<String> {
    let constant = constant_name(metric);
    let literal = format!("\"{metric}\"");
    let mut found = Vec::new();
    let crates = std::fs::read_dir(repo_root().join("crates")).expect("crates/");
    for krate in crates.flatten() {
        let name = krate.file_name().to_string_lossy().into_owned();
        if NOT_EMITTERS.contains(&name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&krate.path().join("src"), &mut files);
        let emits = files.iter().any(|f| {
            std::fs::read_to_string(f).is_ok_and(|text| {
                text.lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .any(|l| contains_word(l, &constant) || l.contains(&literal))
            })
        });
        if emits {
            found.push(name);
        }
    }
    found
}

fn contains_word(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

fn queried_metrics() -> Vec<String> {
    let read = |p: &str| -> serde_json::Value {
        let text =
            std::fs::read_to_string(repo_root().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"))
    };
    let mut queries = check_dashboard(&read("dashboards/pipeline.json"))
        .unwrap_or_else(|e| panic!("dashboard: {e}"));
    for q in
        check_monitors(&read("monitors/monitors.json")).unwrap_or_else(|e| panic!("monitors: {e}"))
    {
        queries.push(
            q.split_once(':')
                .map_or(q.clone(), |(_, rest)| rest.to_owned()),
        );
    }
    let mut metrics: Vec<String> = queries
        .iter()
        .map(|q| {
            parse_metric_query(q.split(['<', '>']).next().unwrap_or(q).trim())
                .unwrap_or_else(|e| panic!("{q}: {e}"))
                .metric
        })
        .collect();
    metrics.sort();
    metrics.dedup();
    metrics
}

#[test]
fn every_queried_metric_has_an_emitter_in_the_workspace() {
    let metrics = queried_metrics();
    assert!(metrics.len() >= 8, "{metrics:?}");
    let dead: Vec<String> = metrics
        .iter()
        .filter(|m| emitters(m).is_empty())
        .map(|m| {
            format!(
                "{m} (no crate's src/ names {} or \"{m}\")",
                constant_name(m)
            )
        })
        .collect();
    assert!(
        dead.is_empty(),
        "widgets or monitors query metrics nothing emits:\n{}",
        dead.join("\n")
    );
}

#[test]
fn the_emitter_search_finds_the_facade_and_nothing_for_an_unknown_metric() {
    assert!(emitters("pipeline.runs").contains(&"pipeline-telemetry".to_owned()));
    assert!(emitters("pipeline.nothing.emits.this").is_empty());
    assert!(!contains_word("PIPELINE_RUNS_TOTAL", "PIPELINE_RUNS"));
}

#[test]
fn the_stage_retries_widget_is_fed_by_the_facade() {
    assert!(queried_metrics().contains(&"pipeline.stage.retries".to_owned()));
    assert!(emitters("pipeline.stage.retries").contains(&"pipeline-telemetry".to_owned()));
}
