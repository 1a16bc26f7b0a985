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
