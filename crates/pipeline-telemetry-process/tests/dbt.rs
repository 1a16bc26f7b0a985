//! dbt for real: dbt-core with dbt-postgres runs the fixture project (one
//! model that builds, one that fails) against the local PostgreSQL; the
//! stage's spans, one span per model with dbt's own times, the records and
//! the failure are checked in the test agent and on the DogStatsD wire.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_process::{ProcessError, ProcessStage};
use pipeline_telemetry_test_support::{agent, peers, python, workspace_root};
use serde_json::Value;

static DBT: Stage = Stage::new("dbt");
static DBT_NO_PROJECT: Stage = Stage::new("dbt_no_project");

/// Unix nanoseconds of a dbt timestamp, read independently of the crate.
fn nanos(ts: &str) -> u128 {
    let out = Command::new(python::python())
        .args([
            "-c",
            "import sys,datetime;d=datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00'));\
             print(int(d.timestamp())*10**9 + d.microsecond*1000)",
            ts,
        ])
        .output()
        .expect("python");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("nanos")
}

#[test]
fn dbt_models_become_spans_records_and_errors() {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    let dbt = python::venv_bin("dbt");
    assert!(
        dbt.exists(),
        "dbt is not in the test venv: run scripts/setup-peers.sh"
    );
    let h = common::init("dbt");
    let project = workspace_root().join("tests/fixtures/dbt_project");
    let work: PathBuf = std::env::temp_dir().join(format!(
        "pt-dbt-{}-{}",
        std::process::id(),
        UNIX_EPOCH.elapsed().map(|d| d.as_nanos()).unwrap_or(0)
    ));
    let schema = format!("pt_dbt_{}", std::process::id());
    let target = work.join("target");

    let run = PipelineRun::start("dbt_tests", "run-dbt-1");
    // The stages below run in this run: it is current on this thread.
    let entered = run.enter();
    let mut cmd = Command::new(&dbt);
    cmd.arg("run")
        .arg("--project-dir")
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .arg("--target-path")
        .arg(&target)
        .arg("--log-path")
        .arg(work.join("logs"))
        .env("PT_DBT_SCHEMA", &schema)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false");
    let err = ProcessStage::new(&DBT, cmd)
        .with_timeout(Duration::from_secs(300))
        .run()
        .expect_err("one model fails");
    match &err {
        ProcessError::Exit { code, failed, .. } => {
            assert_eq!(*code, 1);
            assert_eq!(failed, &["model.pt_fixture.broken_totals".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("model.pt_fixture.broken_totals"),
        "{err}"
    );

    // No project at all: no results file, the outcome is the exit code.
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let mut cmd = Command::new(&dbt);
    cmd.arg("run").arg("--project-dir").arg(&empty);
    let err2 = ProcessStage::new(&DBT_NO_PROJECT, cmd)
        .with_timeout(Duration::from_secs(300))
        .run()
        .expect_err("no project");
    assert!(
        matches!(err2, ProcessError::Exit { ref failed, .. } if failed.is_empty()),
        "{err2:?}"
    );
    drop(entered);
    run.finish();
    h.guard.flush();

    // dbt's own account of the run, read independently.
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(target.join("run_results.json")).expect("run_results.json"),
    )
    .expect("json");
    let dbt_times = |id: &str| -> (u128, u128) {
        let r = results["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["unique_id"] == id)
            .expect("node");
        let t = r["timing"].as_array().expect("timing");
        let start = t
            .iter()
            .map(|s| nanos(s["started_at"].as_str().expect("ts")))
            .min();
        let end = t
            .iter()
            .map(|s| nanos(s["completed_at"].as_str().expect("ts")))
            .max();
        (start.expect("start"), end.expect("end"))
    };

    let spans = agent::poll_spans(&h.token, |s| {
        s.iter().filter(|s| s.name == "dbt.model").count() >= 2
            && s.iter().filter(|s| s.name == "process.run").count() >= 2
    });
    let attr = |s: &agent::Span, k: &str| s.attributes.get(k).cloned().unwrap_or_default();
    let process = spans
        .iter()
        .find(|s| s.name == "process.run" && attr(s, "stage") == "dbt")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(attr(process, "resource.name"), "dbt run");
    assert_eq!(attr(process, "error.type"), "exit_1");
    let models: Vec<_> = spans.iter().filter(|s| s.name == "dbt.model").collect();
    assert_eq!(models.len(), 2, "{spans:#?}");
    for m in &models {
        assert_eq!(m.parent_span_id.as_ref(), Some(&process.span_id));
        assert_eq!(m.trace_id, process.trace_id);
        let (start, end) = dbt_times(&attr(m, "dbt.unique_id"));
        assert_eq!(m.start_unix_nano / 1000, start / 1000, "{m:#?}");
        assert_eq!(m.end_unix_nano / 1000, end / 1000, "{m:#?}");
        assert!(
            m.start_unix_nano >= process.start_unix_nano
                && m.end_unix_nano <= process.end_unix_nano
        );
    }
    let good = models
        .iter()
        .find(|m| attr(m, "dbt.unique_id") == "model.pt_fixture.good_orders")
        .expect("good model");
    assert_eq!(attr(good, "dbt.status"), "success");
    assert_eq!(attr(good, "dbt.rows_affected"), "5");
    assert!(!good.status_code.as_deref().unwrap_or("").contains("ERROR"));
    let bad = models
        .iter()
        .find(|m| attr(m, "dbt.unique_id") == "model.pt_fixture.broken_totals")
        .expect("bad model");
    assert_eq!(attr(bad, "dbt.status"), "error");
    assert!(
        bad.status_code
            .as_deref()
            .is_some_and(|c| c.contains("ERROR")),
        "{bad:#?}"
    );
    assert!(bad
        .status_message
        .as_deref()
        .is_some_and(|m| m.contains("no_such_table")));

    let lines = h.udp.lines_until(Duration::from_secs(10), |l| {
        !common::matching(l, "pipeline.records", &["stage:dbt"]).is_empty()
            && !common::matching(l, "pipeline.errors", &["stage:dbt_no_project"]).is_empty()
    });
    let records = common::matching(
        &lines,
        "pipeline.records",
        &["pipeline:dbt_tests", "stage:dbt"],
    );
    assert_eq!(common::count_sum(&records), 5, "{lines:#?}");
    let errors = common::matching(
        &lines,
        "pipeline.errors",
        &["pipeline:dbt_tests", "stage:dbt"],
    );
    assert_eq!(common::count_sum(&errors), 1, "{lines:#?}");
    assert!(common::matching(&lines, "pipeline.records", &["stage:dbt_no_project"]).is_empty());

    h.guard.shutdown(Duration::from_secs(10)).expect("shutdown");
    let _ = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc"])
        .arg(format!("drop schema if exists {schema} cascade"))
        .status();
    let _ = std::fs::remove_dir_all(&work);
}
