//! The guide's two log searches, on the JSON lines the library really
//! writes to stdout, run through a model of Datadog's ingestion
//! (`support/datadog_logs.rs`, each rule cited) and the generated log
//! pipeline (`deploy/datadog/logs-pipeline.json`).
//!
//! Two services (`prefect` and `etl-worker`) each run pipeline
//! `nightly_etl` twice in a child process (this test binary, re-run with
//! `PT_LOG_SEARCH_CHILD` set): run 41 succeeds, run 42 fails in `load`. The
//! child prints a plain `RUN <id> BEGIN/END` marker around each run, so
//! which line belongs to which run is known without reading the lines'
//! attributes.

#[path = "support/datadog_logs.rs"]
mod datadog_logs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use datadog_logs::{apply_pipeline, matches, preprocess, Log};
use pipeline_telemetry::otel::{LogFormat, TracesExport};
use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};
use pipeline_telemetry_monitors::logs::{
    run_logs_attribute_query, run_logs_query, FAILED_LOGS_QUERY, FAILED_LOGS_TAG_QUERY,
};

const CHILD: &str = "PT_LOG_SEARCH_CHILD";
const TRANSIENT: &str = "transient warehouse error, retrying";

#[derive(Debug)]
struct LoadError;

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse refused the batch")
    }
}

impl std::error::Error for LoadError {}

#[instrument_stage]
fn extract() -> Result<u32, LoadError> {
    tracing::info!(rows = 3_u32, "extracted");
    Ok(3)
}

#[instrument_stage]
fn load(fail: bool) -> Result<(), LoadError> {
    // An error line that is not a failure: the stage still succeeds.
    tracing::error!("{TRANSIENT}");
    if fail {
        Err(LoadError)
    } else {
        Ok(())
    }
}

/// In the child: one service's runs, JSON lines on stdout.
#[test]
fn child_emits_runs() {
    let Ok(service) = std::env::var(CHILD) else {
        return;
    };
    let guard = TelemetryBuilder::from_env()
        .with_service(service)
        .with_metrics_target(MetricsTarget::Memory(MemorySink::new()))
        .with_otel(|b| {
            b.with_log_format(LogFormat::Json)
                .with_traces(TracesExport::Off)
        })
        .init()
        .expect("init");
    for (id, fail) in [(41, false), (42, true)] {
        println!("RUN {id} BEGIN");
        let run = PipelineRun::start("nightly_etl", id);
        run.in_scope(|| {
            let _ = extract();
            let _ = load(fail);
        });
        // Run 42 ends failed (its stage failed); run 41 finishes.
        if fail {
            drop(run);
        } else {
            run.finish();
        }
        // Log lines reach stdout through the writer thread: out before
        // the marker.
        guard.flush();
        println!("RUN {id} END");
    }
    drop(guard);
}

/// A JSON line with the run it was written in (from the markers).
#[derive(Debug)]
struct Line {
    service: &'static str,
    run: Option<u32>,
    json: String,
}

fn emit(service: &'static str) -> Vec<Line> {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_emits_runs",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, service)
        .env_remove("DD_SERVICE")
        .env_remove("RUST_LOG")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = None;
    let mut lines = Vec::new();
    for l in stdout.lines() {
        // The test harness may print `test child_emits_runs ... ` first.
        let marker = l.find("RUN ").map_or("", |at| &l[at..]);
        let words: Vec<&str> = marker.split_whitespace().collect();
        match words.as_slice() {
            ["RUN", id, "BEGIN"] => run = id.parse().ok(),
            ["RUN", _, "END"] => run = None,
            _ if l.starts_with('{') => lines.push(Line {
                service,
                run,
                json: l.to_owned(),
            }),
            _ => {}
        }
    }
    lines
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn committed_pipeline() -> serde_json::Value {
    let p = repo_root().join("deploy/datadog/logs-pipeline.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("pipeline JSON")
}

fn find(logs: &[(usize, Log)], query: &str) -> BTreeSet<usize> {
    logs.iter()
        .filter(|(_, l)| matches(l, query))
        .map(|(i, _)| *i)
        .collect()
}

#[test]
fn the_guides_searches_find_exactly_the_right_lines() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let lines: Vec<Line> = ["prefect", "etl-worker"]
        .into_iter()
        .flat_map(emit)
        .collect();
    assert!(lines.len() >= 8, "{lines:#?}");

    // Datadog's ingestion without and with the generated pipeline.
    let preprocessed: Vec<(usize, Log)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                i,
                preprocess(&l.json).unwrap_or_else(|| panic!("not JSON: {l:?}")),
            )
        })
        .collect();
    let pipeline = committed_pipeline();
    let processed: Vec<(usize, Log)> = preprocessed
        .iter()
        .map(|(i, l)| {
            let mut l = l.clone();
            apply_pipeline(&mut l, &pipeline);
            (*i, l)
        })
        .collect();

    // Service, source and status are right without any Agent or pipeline
    // configuration.
    for (i, log) in &preprocessed {
        assert_eq!(
            log.service.as_deref(),
            Some(lines[*i].service),
            "{}",
            log.raw
        );
        assert_eq!(log.source.as_deref(), Some("pipeline"), "{}", log.raw);
        assert_ne!(log.status, "emergency", "{}", log.raw);
    }

    // The truth, from the markers and the messages this test chose.
    let in_run = |service: &str, run: u32| -> BTreeSet<usize> {
        (0..lines.len())
            .filter(|i| lines[*i].service == service && lines[*i].run == Some(run))
            .collect()
    };
    let error_level = |i: &usize| preprocessed[*i].1.attributes["level"] == "error";
    let transient = |i: &usize| preprocessed[*i].1.raw.contains(TRANSIENT);
    let failures: BTreeSet<usize> = (0..lines.len())
        .filter(|i| lines[*i].run == Some(42) && error_level(i) && !transient(i))
        .collect();
    assert!(
        failures.len() >= 2,
        "each service's run 42 writes its failure: {lines:#?}"
    );
    assert!(failures
        .iter()
        .any(|i| preprocessed[*i].1.raw.contains("\"stage failed\"")));

    // "Search for failed stages": the guide's literal query can never
    // match (a status starting with `f` is emergency, and ours is error);
    // the shipped searches find exactly the failures, not the transient
    // error lines.
    assert!(find(&processed, "status:failed source:pipeline").is_empty());
    assert_eq!(find(&preprocessed, FAILED_LOGS_QUERY), failures);
    assert_eq!(find(&processed, FAILED_LOGS_QUERY), failures);
    assert_eq!(find(&processed, FAILED_LOGS_TAG_QUERY), failures);
    let errors = find(&preprocessed, "status:error source:pipeline");
    assert!(errors.is_superset(&failures) && errors.len() > failures.len());

    // "View logs by pipeline ID": as the guide writes it, a tag search,
    // which only the log pipeline makes work; `@` works without it.
    let run_42 = in_run("prefect", 42);
    assert!(!run_42.is_empty());
    let guide = run_logs_query("42", "prefect");
    assert_eq!(guide, "pipeline_id:42 service:prefect");
    assert!(
        find(&preprocessed, &guide).is_empty(),
        "no tag without the pipeline"
    );
    assert_eq!(find(&processed, &guide), run_42);
    assert_eq!(
        find(&preprocessed, &run_logs_attribute_query("42", "prefect")),
        run_42
    );
    assert_eq!(
        find(&processed, "pipeline_id:42 service:etl-worker"),
        in_run("etl-worker", 42)
    );
    assert_eq!(
        find(&processed, "pipeline_id:41 service:prefect"),
        in_run("prefect", 41)
    );
    // Stage and pipeline tags too.
    let load_42: BTreeSet<usize> = run_42
        .iter()
        .copied()
        .filter(|i| lines[*i].json.contains("\"stage\":\"load\""))
        .collect();
    assert!(!load_42.is_empty());
    assert_eq!(
        find(&processed, "pipeline_id:42 stage:load service:prefect"),
        load_42
    );
    let all_runs: BTreeSet<usize> = (0..lines.len())
        .filter(|i| lines[*i].run.is_some())
        .collect();
    assert_eq!(find(&processed, "pipeline:nightly_etl"), all_runs);

    // The committed dashboard's log stream shows exactly the failures, and
    // every column it shows is filled on each of them (a failed run's own
    // line has no stage).
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("dashboards/pipeline.json")).expect("dashboard"),
    )
    .expect("dashboard JSON");
    let streams = log_streams(&dashboard);
    assert_eq!(streams.len(), 1, "{streams:?}");
    let stream = streams[0];
    let query = stream["query"].as_str().expect("query");
    assert_eq!(find(&preprocessed, query), failures);
    for column in stream["columns"].as_array().expect("columns") {
        let column = column.as_str().expect("column");
        for i in &failures {
            let log = &preprocessed[*i].1;
            if column == "@stage" && !log.raw.contains("\"stage failed\"") {
                continue;
            }
            let shown = match column.strip_prefix('@') {
                Some(attr) => log.attributes.contains_key(attr),
                None => column == "service" && log.service.is_some(),
            };
            assert!(shown, "column {column} is empty on {}", log.raw);
        }
    }
}

fn log_streams(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    match v {
        serde_json::Value::Object(map) if map.get("type") == Some(&"log_stream".into()) => vec![v],
        serde_json::Value::Object(map) => map.values().flat_map(log_streams).collect(),
        serde_json::Value::Array(items) => items.iter().flat_map(log_streams).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_model_follows_the_status_remapper() {
    for (value, status) in [
        ("failed", "emergency"),
        ("fatal", "emergency"),
        ("error", "error"),
        ("warn", "warning"),
        ("info", "info"),
        ("debug", "debug"),
        ("trace", "debug"),
        ("ok", "ok"),
        ("3", "error"),
        ("whatever", "warning"),
        ("xyz", "info"),
    ] {
        assert_eq!(datadog_logs::map_status(value), status, "{value}");
    }
}
