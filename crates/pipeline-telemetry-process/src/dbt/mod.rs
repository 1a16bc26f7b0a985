//! dbt: what a `dbt run` / `build` / `test` reports in
//! `target/run_results.json`, as spans, records and failed node names.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use pipeline_telemetry_otel::CompletedSpan;
use serde::Deserialize;

#[cfg(test)]
mod props;
mod time;

pub(crate) use time::parse_utc;

/// dbt sub-commands that write `run_results.json`.
const RESULT_COMMANDS: [&str; 5] = ["run", "build", "test", "seed", "snapshot"];

/// Largest results file read.
const MAX_RESULTS_BYTES: u64 = 64 << 20;

/// Most node spans recorded for one invocation.
pub const MAX_NODE_SPANS: usize = 10_000;

/// Node statuses that fail the invocation.
const FAILED: [&str; 3] = ["error", "fail", "runtime error"];

/// Where a dbt command will write its results.
#[derive(Debug, Clone)]
pub(crate) struct DbtInvocation {
    pub(crate) results: PathBuf,
}

fn arg_value<'a>(args: &'a [&'a str], flag: &str) -> Option<&'a str> {
    let eq = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if *a == flag {
            args.get(i + 1).copied()
        } else {
            a.strip_prefix(eq.as_str())
        }
    })
}

impl DbtInvocation {
    /// The invocation, if `command` is a dbt command that writes results.
    pub(crate) fn detect(command: &Command) -> Option<Self> {
        let program = Path::new(command.get_program()).file_name()?;
        if program != OsStr::new("dbt") {
            return None;
        }
        let args: Vec<&str> = command.get_args().filter_map(OsStr::to_str).collect();
        let sub = args.iter().find(|a| !a.starts_with('-'))?;
        if !RESULT_COMMANDS.contains(sub) {
            return None;
        }
        let env = |name: &str| -> Option<String> {
            let set = command
                .get_envs()
                .find(|(k, _)| *k == OsStr::new(name))
                .map(|(_, v)| v.and_then(OsStr::to_str).map(str::to_owned));
            match set {
                Some(v) => v,
                None => std::env::var(name).ok(),
            }
        };
        let cwd = command
            .get_current_dir()
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let project = arg_value(&args, "--project-dir")
            .map(str::to_owned)
            .or_else(|| env("DBT_PROJECT_DIR"))
            .map_or_else(|| cwd.clone(), |p| cwd.join(p));
        let target = arg_value(&args, "--target-path")
            .map(str::to_owned)
            .or_else(|| env("DBT_TARGET_PATH"))
            .unwrap_or_else(|| "target".to_owned());
        Some(DbtInvocation {
            results: project.join(target).join("run_results.json"),
        })
    }

    /// Reads the results written since `started`; a missing, stale or
    /// malformed file gives an empty report that says why.
    pub(crate) fn read(&self, started: SystemTime) -> DbtReport {
        match read_results(&self.results, started) {
            Ok(report) => report,
            Err(problem) => DbtReport {
                problem: Some(problem),
                ..DbtReport::default()
            },
        }
    }
}

/// What dbt reported for one invocation.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DbtReport {
    /// Every model, test, seed or snapshot dbt ran.
    pub nodes: Vec<DbtNode>,
    /// Sum of `rows_affected` over the nodes that succeeded.
    pub rows_affected: u64,
    /// `unique_id`s of the nodes that failed (status `error`, `fail`).
    pub failed: Vec<String>,
    /// Why no results could be read (missing, stale or malformed file).
    pub problem: Option<String>,
}

/// One node of a dbt invocation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbtNode {
    /// `model.project.name`, `test.project.name.hash`, ...
    pub unique_id: String,
    /// `model`, `test`, `seed`, `snapshot`, ... (from the `unique_id`).
    pub resource_type: String,
    /// `success`, `error`, `fail`, `pass`, `warn`, `skipped`, ...
    pub status: String,
    /// When its first step (compile) started.
    pub started: Option<SystemTime>,
    /// When its last step (execute) completed.
    pub completed: Option<SystemTime>,
    /// Rows affected, as the adapter reported.
    pub rows_affected: Option<u64>,
    /// dbt's message (the error for a failed node).
    pub message: Option<String>,
}

impl DbtNode {
    /// Whether this node failed its invocation.
    pub fn failed(&self) -> bool {
        FAILED.contains(&self.status.as_str())
    }
}

#[derive(Deserialize)]
struct RawResults {
    results: Vec<RawResult>,
}

#[derive(Deserialize)]
struct RawResult {
    unique_id: String,
    status: String,
    #[serde(default)]
    timing: Vec<RawTiming>,
    #[serde(default)]
    adapter_response: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct RawTiming {
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    completed_at: Option<String>,
}

fn read_results(path: &Path, started: SystemTime) -> Result<DbtReport, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    let modified = meta.modified().map_err(|e| format!("{shown}: {e}"))?;
    // File systems with coarse timestamps: one second of slack.
    if modified
        .checked_add(Duration::from_secs(1))
        .is_some_and(|m| m < started)
    {
        return Err(format!("{shown} is older than this invocation"));
    }
    if meta.len() > MAX_RESULTS_BYTES {
        return Err(format!("{shown} is larger than {MAX_RESULTS_BYTES} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse_results(&text).map_err(|e| format!("{shown} is not dbt run results: {e}"))
}

/// The report of a `run_results.json` document: never panics, whatever
/// the text (absurd timestamps are left out, sums saturate).
pub(crate) fn parse_results(text: &str) -> Result<DbtReport, serde_json::Error> {
    let raw: RawResults = serde_json::from_str(text)?;
    let mut report = DbtReport::default();
    for r in raw.results {
        let resource_type = r.unique_id.split('.').next().unwrap_or("node").to_owned();
        let started = r
            .timing
            .iter()
            .filter_map(|t| t.started_at.as_deref().and_then(parse_utc))
            .min();
        let completed = r
            .timing
            .iter()
            .filter_map(|t| t.completed_at.as_deref().and_then(parse_utc))
            .max();
        let rows_affected = r
            .adapter_response
            .as_ref()
            .and_then(|a| a.get("rows_affected"))
            .and_then(serde_json::Value::as_i64)
            .and_then(|n| u64::try_from(n).ok());
        let node = DbtNode {
            unique_id: r.unique_id,
            resource_type,
            status: r.status,
            started,
            completed,
            rows_affected,
            message: r.message,
        };
        if node.failed() {
            report.failed.push(node.unique_id.clone());
        } else if node.resource_type == "model"
            || node.resource_type == "seed"
            || node.resource_type == "snapshot"
        {
            report.rows_affected = report
                .rows_affected
                .saturating_add(node.rows_affected.unwrap_or(0));
        }
        report.nodes.push(node);
    }
    Ok(report)
}

/// Span name of a node: `dbt.model`, `dbt.test`, ... (bounded).
fn span_name(resource_type: &str) -> &'static str {
    match resource_type {
        "model" => "dbt.model",
        "test" => "dbt.test",
        "seed" => "dbt.seed",
        "snapshot" => "dbt.snapshot",
        "unit_test" => "dbt.unit_test",
        _ => "dbt.node",
    }
}

/// One span per node under `parent`, with its real start and end times.
pub(crate) fn record(report: &DbtReport, parent: &tracing::Span) {
    if let Some(problem) = &report.problem {
        tracing::warn!(
            target: "pipeline_telemetry::process",
            parent: parent,
            "dbt results not read: {problem}"
        );
    }
    let now = SystemTime::now();
    for node in report.nodes.iter().take(MAX_NODE_SPANS) {
        let start = node.started.or(node.completed).unwrap_or(now);
        // A node that says it ended before it started ends when it started.
        let end = node.completed.unwrap_or(start).max(start);
        let name = span_name(&node.resource_type);
        let mut span = CompletedSpan::new(name, start, end)
            .with_attribute("operation.name", name)
            .with_attribute("resource.name", node.unique_id.clone())
            .with_attribute("dbt.unique_id", node.unique_id.clone())
            .with_attribute("dbt.resource_type", node.resource_type.clone())
            .with_attribute("dbt.status", node.status.clone());
        if let Some(rows) = node.rows_affected.and_then(|r| i64::try_from(r).ok()) {
            span = span.with_attribute("dbt.rows_affected", rows);
        }
        if node.failed() {
            let msg = node.message.clone().unwrap_or_else(|| node.status.clone());
            span = span.with_error(msg);
        }
        span.record_under(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_reads_flags() {
        let mut c = Command::new("/opt/venv/bin/dbt");
        c.args([
            "--no-use-colors",
            "build",
            "--project-dir=/p",
            "--target-path",
            "t2",
        ]);
        let d = DbtInvocation::detect(&c).expect("dbt build");
        assert_eq!(d.results, PathBuf::from("/p/t2/run_results.json"));
        let mut c = Command::new("dbt");
        c.arg("debug");
        assert!(DbtInvocation::detect(&c).is_none());
        assert!(DbtInvocation::detect(&Command::new("dbtx")).is_none());
    }

    #[test]
    fn malformed_results_say_why() {
        let dir = std::env::temp_dir().join(format!("pt-dbt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let path = dir.join("run_results.json");
        std::fs::write(&path, b"{\"results\": 3}").expect("write");
        let inv = DbtInvocation { results: path };
        let r = inv.read(SystemTime::now() - Duration::from_secs(60));
        assert!(r.problem.is_some_and(|p| p.contains("not dbt run results")));
        let r = DbtInvocation {
            results: dir.join("missing.json"),
        }
        .read(SystemTime::now());
        assert!(r.problem.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
