//! The binary's commands, end to end.

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline-telemetry-cli"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn prints_dashboard_monitors_and_catalogue() {
    let dashboard: serde_json::Value =
        serde_json::from_slice(&cli(&["dashboard"]).stdout).expect("dashboard JSON");
    assert_eq!(dashboard["layout_type"], "ordered");
    let tf = stdout(&cli(&["dashboard", "--format", "terraform"]));
    assert!(tf.contains("resource \"datadog_dashboard_json\" \"pipeline\""));
    let pipeline: serde_json::Value =
        serde_json::from_slice(&cli(&["log-pipeline"]).stdout).expect("log pipeline JSON");
    assert_eq!(pipeline["filter"]["query"], "source:pipeline");
    let tf = stdout(&cli(&["log-pipeline", "--format", "terraform"]));
    assert!(tf.contains("resource \"datadog_logs_custom_pipeline\""));
    assert!(stdout(&cli(&["percentiles"])).contains("include_percentiles = true"));
    let monitors: serde_json::Value =
        serde_json::from_slice(&cli(&["monitors", "--format", "json"]).stdout)
            .expect("monitors JSON");
    assert_eq!(monitors.as_array().map(Vec::len), Some(3));
    let tf = stdout(&cli(&[
        "monitors",
        "--format",
        "terraform",
        "--slack",
        "ops",
        "--email",
        "me@example.org",
    ]));
    assert_eq!(tf.matches("resource \"datadog_monitor\"").count(), 3);
    assert!(tf.contains("@slack-ops @me@example.org"));
    assert!(stdout(&cli(&["metrics-doc"])).contains("| `spark.executors.active` |"));
}

#[test]
fn replay_prints_which_monitors_would_notify() {
    let dir = std::env::temp_dir().join(format!("pipeline-telemetry-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let capture = dir.join("capture.txt");
    std::fs::write(
        &capture,
        "1700000000 pipeline.runs:1|c|#pipeline:etl\n\
         1700000030 pipeline.stage.duration:7.5|d|#pipeline:etl,stage:spark,status:error\n\
         1700000030 pipeline.errors:1|c|#pipeline:etl,stage:spark,error_type:Timeout\n",
    )
    .expect("write capture");
    let path = capture.to_str().expect("utf-8 path");
    let out = cli(&["replay", path, "--now", "1700000060"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ALERT    Pipeline failures"), "{text}");
    // A count, not a per-second rate.
    assert!(text.contains("*: ALERT (value 1)"), "{text}");
    assert!(text.contains("ALERT    Stage duration spike"), "{text}");
    // A run started within the last ten minutes.
    assert!(text.contains("OK       No pipelines running"), "{text}");
    assert!(text.contains("2 of 3 monitors would notify"), "{text}");
    assert_eq!(
        cli(&["replay", path, "--fail-on-notify"]).status.code(),
        Some(3)
    );

    std::fs::write(&capture, "1700000000 pipeline.runs:one|c\n").expect("write capture");
    let bad = cli(&["replay", path]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(
        cli(&["monitors", "--format", "yaml"]).status.code(),
        Some(2)
    );
}
