//! The process span: names, kind and the semantic-convention attributes
//! of a process (`process.executable.name`, `process.command_args`,
//! `process.pid`, `process.exit.code`, ...).

use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, PROCESS_COMMAND_ARGS, PROCESS_COMMAND_LINE, PROCESS_EXECUTABLE_NAME,
    PROCESS_EXECUTABLE_PATH, PROCESS_EXIT_CODE, PROCESS_PID,
};
use tracing::field::Empty;

use crate::error::ProcessError;

/// The span name (and Datadog operation name) of a process run.
pub const PROCESS_SPAN: &str = "process.run";

/// Span attribute holding the bounded tail of the process's stderr.
pub const STDERR_TAIL_ATTR: &str = "process.stderr.tail";

/// What the span shows of the command, computed once before the spawn.
#[derive(Debug, Clone)]
pub(crate) struct CommandView {
    /// The executable's file name (`dbt`).
    pub(crate) name: String,
    /// The executable as given (`/usr/bin/dbt` or `dbt`).
    pub(crate) path: String,
    /// The executable and its sub-command (`dbt run`): the span's resource
    /// and the command named in errors. Without recorded arguments, only a
    /// sub-command of a known tool (dbt) is shown.
    pub(crate) resource: String,
    /// All arguments after redaction (executable first), when recorded.
    pub(crate) args: Option<Vec<String>>,
}

/// dbt's sub-commands: words, never user data, shown in the resource even
/// when the arguments are not recorded.
const DBT_SUBCOMMANDS: [&str; 18] = [
    "build",
    "clean",
    "clone",
    "compile",
    "debug",
    "deps",
    "docs",
    "init",
    "list",
    "ls",
    "parse",
    "retry",
    "run",
    "run-operation",
    "seed",
    "show",
    "snapshot",
    "test",
];

impl CommandView {
    pub(crate) fn of(
        command: &std::process::Command,
        redaction: &crate::Redaction,
        record_args: bool,
    ) -> Self {
        let path = command.get_program().to_string_lossy().into_owned();
        let name = std::path::Path::new(&path)
            .file_name()
            .map_or_else(|| path.clone(), |n| n.to_string_lossy().into_owned());
        let raw: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let args = record_args.then(|| {
            let mut args = vec![path.clone()];
            args.extend(redaction.redact_all(raw.iter().map(String::as_str)));
            args
        });
        let resource = match (raw.iter().find(|a| !a.starts_with('-')), &args) {
            (Some(sub), _) if name == "dbt" && DBT_SUBCOMMANDS.contains(&sub.as_str()) => {
                format!("{name} {sub}")
            }
            // With the arguments recorded: a bounded resource, a word,
            // never a file path, a value or a redacted secret.
            (_, Some(args)) => match args.iter().skip(1).find(|a| !a.starts_with('-')) {
                Some(sub)
                    if sub.len() <= 32
                        && !sub.contains(crate::REDACTED)
                        && sub
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) =>
                {
                    format!("{name} {sub}")
                }
                _ => name.clone(),
            },
            _ => name.clone(),
        };
        CommandView {
            name,
            path,
            resource,
            args,
        }
    }

    fn args_json(args: &[String]) -> String {
        serde_json::to_string(args).unwrap_or_default()
    }

    fn command_line(args: &[String]) -> String {
        args.iter()
            .map(|a| {
                if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c))
                {
                    format!("'{}'", a.replace('\'', r"'\''"))
                } else {
                    a.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Opens the process span, a child of the current span (the stage's).
pub(crate) fn process_span(view: &CommandView, stage: &str) -> tracing::Span {
    let span = tracing::info_span!(
        target: "pipeline_telemetry::process",
        "process.run",
        "operation.name" = PROCESS_SPAN,
        "resource.name" = view.resource.as_str(),
        stage = stage,
        { PROCESS_EXECUTABLE_NAME } = view.name.as_str(),
        { PROCESS_EXECUTABLE_PATH } = view.path.as_str(),
        { PROCESS_COMMAND_LINE } = Empty,
        { PROCESS_COMMAND_ARGS } = Empty,
        { PROCESS_PID } = Empty,
        { PROCESS_EXIT_CODE } = Empty,
        { ERROR_TYPE } = Empty,
        { STDERR_TAIL_ATTR } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    if let Some(args) = &view.args {
        span.record(PROCESS_COMMAND_LINE, CommandView::command_line(args));
        span.record(PROCESS_COMMAND_ARGS, CommandView::args_json(args));
    }
    span
}

/// Records the child's pid.
pub(crate) fn record_pid(span: &tracing::Span, pid: u32) {
    span.record(PROCESS_PID, i64::from(pid));
}

/// Records a clean exit (code 0).
pub(crate) fn record_success(span: &tracing::Span, stderr_tail: Option<&str>) {
    span.record(PROCESS_EXIT_CODE, 0_i64);
    if let Some(tail) = stderr_tail.filter(|t| !t.is_empty()) {
        span.record(STDERR_TAIL_ATTR, tail);
    }
}

/// Marks the span as failed, and logs the failure with the stderr tail
/// (one error log line, correlated with the run by the span).
pub(crate) fn record_failure(span: &tracing::Span, err: &ProcessError) {
    let error_type = err.error_type();
    if let ProcessError::Exit { code, .. } = err {
        span.record(PROCESS_EXIT_CODE, i64::from(*code));
    }
    span.record(ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
    span.record("otel.status_description", tracing::field::display(err));
    let tail = err.stderr_tail().unwrap_or("");
    if !tail.is_empty() {
        span.record(STDERR_TAIL_ATTR, tail);
    }
    tracing::error!(
        target: "pipeline_telemetry::process",
        parent: span,
        {
            "error.type" = error_type,
            stderr_tail = tail,
            outcome = "failed",
        },
        "process failed: {}",
        err

    );
}
