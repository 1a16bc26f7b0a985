//! [`ProcessStage`]: a command run as a pipeline stage.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use pipeline_telemetry::{PipelineRun, Stage};

use crate::carrier::{EnvCarrier, PIPELINE_ID_VAR};
use crate::dbt::{self, DbtInvocation, DbtReport};
use crate::error::ProcessError;
use crate::output::{OutputCollector, Stream};
use crate::redact::Redaction;
use crate::spans::{self, CommandView};

/// Default bound of the stderr tail kept for the span and the error.
pub const DEFAULT_STDERR_TAIL: usize = 4 * 1024;

/// Default time a process group is given between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How long the output of an exited process is still read (a process that
/// escaped the group may keep the pipes open).
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// A command (`dbt run`, a script, any executable) run as one call of a
/// pipeline [`Stage`].
///
/// The stage's span and metrics come from [`Stage`] (`pipeline.stage`
/// span, `pipeline.stage.duration`, `pipeline.errors` when the process
/// fails); inside it a `process.run` span carries the process's
/// semantic-convention attributes (`process.executable.name`,
/// `process.command_args` with secrets redacted, `process.pid`,
/// `process.exit.code`), `error.type` (`exit_<code>`, `signal_<n>`,
/// `timeout`, `not_found`) and the tail of its stderr.
///
/// The child runs in a process group of its own with the run's context in
/// `TRACEPARENT`, `TRACESTATE`, `BAGGAGE` and `PIPELINE_ID`. When the stage
/// ends (the process exited, timed out, or the async stage was dropped),
/// whatever is left of the group gets SIGTERM and, after the grace
/// period, SIGKILL: no process started by the stage outlives it (unless
/// it left the group itself with `setsid`).
///
/// When the command is dbt (`dbt run`, `dbt build`, `dbt test`, ...), its
/// `target/run_results.json` becomes one span per model or test (real
/// start and end times, status, rows affected), `pipeline.records` counts
/// the rows affected, and failed nodes are named in the error.
///
/// ```no_run
/// use std::process::Command;
/// use std::time::Duration;
/// use pipeline_telemetry::{PipelineRun, Stage};
/// use pipeline_telemetry_process::ProcessStage;
///
/// static DBT: Stage = Stage::new("dbt");
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let run = PipelineRun::start("daily_etl", "42");
/// let mut dbt = Command::new("dbt");
/// dbt.args(["run", "--project-dir", "transform"]);
/// let out = ProcessStage::new(&DBT, dbt)
///     .with_timeout(Duration::from_secs(1800))
///     .with_forward_output(true)
///     .run(&run)?;
/// println!("exit {}", out.status);
/// run.finish();
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "a process stage does nothing until `run` or `run_async`"]
pub struct ProcessStage {
    pub(crate) stage: &'static Stage,
    pub(crate) command: Command,
    pub(crate) timeout: Option<Duration>,
    pub(crate) grace: Duration,
    pub(crate) stderr_tail: usize,
    pub(crate) stdout_capture: Option<usize>,
    pub(crate) forward_output: bool,
    pub(crate) redaction: Redaction,
    pub(crate) dbt: bool,
}

/// What a successful process stage returns.
#[derive(Debug)]
#[non_exhaustive]
pub struct ProcessOutput {
    /// The child's pid.
    pub pid: u32,
    /// Its exit status (success).
    pub status: ExitStatus,
    /// Its stdout, when captured ([`ProcessStage::with_stdout_capture`]).
    pub stdout: Vec<u8>,
    /// The tail of its stderr, as valid UTF-8.
    pub stderr_tail: String,
    /// What dbt reported, when the command was dbt.
    pub dbt: Option<DbtReport>,
}

impl ProcessStage {
    /// `command` as a call of `stage`.
    pub fn new(stage: &'static Stage, command: Command) -> Self {
        ProcessStage {
            stage,
            command,
            timeout: None,
            grace: DEFAULT_GRACE,
            stderr_tail: DEFAULT_STDERR_TAIL,
            stdout_capture: None,
            forward_output: false,
            redaction: Redaction::default(),
            dbt: true,
        }
    }

    /// A `tokio::process::Command` as a call of `stage`.
    pub fn from_tokio(stage: &'static Stage, command: tokio::process::Command) -> Self {
        Self::new(stage, command.into_std())
    }

    /// Terminates the process group when the process runs longer than
    /// `timeout` (the stage fails with `error_type:timeout`).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time between SIGTERM and SIGKILL (default 5 s).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Bytes of stderr kept for the span and the error (default 4 KiB; 0
    /// keeps none).
    pub fn with_stderr_tail(mut self, bytes: usize) -> Self {
        self.stderr_tail = bytes;
        self
    }

    /// Keeps up to `max_bytes` (the last ones) of stdout in
    /// [`ProcessOutput::stdout`].
    pub fn with_stdout_capture(mut self, max_bytes: usize) -> Self {
        self.stdout_capture = Some(max_bytes);
        self
    }

    /// Forwards every line of the child's stdout and stderr to this
    /// process's log (`info` events with `stream`, in the process span, so
    /// they carry the run's `pipeline_id`, `stage` and trace ids). Off by
    /// default: the output is read (for the stderr tail) and dropped.
    pub fn with_forward_output(mut self, forward: bool) -> Self {
        self.forward_output = forward;
        self
    }

    /// The rule that redacts secrets from the arguments on the span.
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Whether a dbt command's `run_results.json` is read (default on).
    pub fn with_dbt_results(mut self, read: bool) -> Self {
        self.dbt = read;
        self
    }

    /// Runs the process to its end as a call of the stage in `run`,
    /// blocking this thread (use [`run_async`](Self::run_async) in async
    /// code).
    ///
    /// # Errors
    ///
    /// [`ProcessError::Spawn`] when the executable cannot be started,
    /// [`ProcessError::Exit`] when it exits with a non-zero code (with the
    /// nodes a tool such as dbt reported as failed),
    /// [`ProcessError::Signal`] when a signal kills it,
    /// [`ProcessError::Timeout`] when it runs past the stage's timeout (its
    /// process group is terminated), and [`ProcessError::Io`] when waiting
    /// for it fails. Each is recorded on the stage's span and metrics.
    pub fn run(self, run: &PipelineRun) -> Result<ProcessOutput, ProcessError> {
        let stage = self.stage;
        run.in_scope(|| stage.run_typed(|| self.execute_sync(run)))
    }

    /// Runs the process as a call of the stage in `run`, without blocking
    /// the runtime. Dropping the future terminates the process group
    /// (SIGTERM, then SIGKILL after the grace period).
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_async(self, run: &PipelineRun) -> Result<ProcessOutput, ProcessError> {
        let stage = self.stage;
        run.scope(stage.run_async_typed(self.execute_async(run)))
            .await
    }

    /// Everything before the spawn: the span, the environment, the group,
    /// the pipes, dbt detection.
    pub(crate) fn prepare(&mut self, run: &PipelineRun) -> Prepared {
        let view = CommandView::of(&self.command, &self.redaction);
        let span = spans::process_span(&view, self.stage.name());
        let mut env = EnvCarrier::new();
        pipeline_telemetry::otel::inject_context_with_pipeline_id(
            &span,
            run.pipeline_id(),
            &mut env,
        );
        env.apply_to(&mut self.command);
        self.command.env(PIPELINE_ID_VAR, run.pipeline_id());
        self.command.process_group(0);
        self.command.stdin(Stdio::null());
        let forward = self.forward_output.then(|| span.clone());
        let out = OutputCollector::new(Stream::Stdout, None, self.stdout_capture, forward.clone());
        let err = OutputCollector::new(
            Stream::Stderr,
            (self.stderr_tail > 0).then_some(self.stderr_tail),
            None,
            forward,
        );
        self.command.stdout(if out.wants_bytes() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        self.command.stderr(if err.wants_bytes() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let dbt = if self.dbt {
            DbtInvocation::detect(&self.command)
        } else {
            None
        };
        Prepared {
            view,
            span,
            out,
            err,
            dbt,
            started: SystemTime::now(),
        }
    }
}

/// A command ready to spawn.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) view: CommandView,
    pub(crate) span: tracing::Span,
    pub(crate) out: OutputCollector,
    pub(crate) err: OutputCollector,
    pub(crate) dbt: Option<DbtInvocation>,
    pub(crate) started: SystemTime,
}

/// How the process ended, before it is judged.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) pid: u32,
    pub(crate) status: Option<ExitStatus>,
    pub(crate) timed_out: bool,
    pub(crate) wait_error: Option<std::io::Error>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr_tail: String,
}

impl Prepared {
    /// The spawn error, recorded on the span.
    pub(crate) fn spawn_failed(&self, source: std::io::Error) -> ProcessError {
        let err = ProcessError::Spawn {
            program: self.view.path.clone(),
            source,
        };
        spans::record_failure(&self.span, &err);
        err
    }

    /// Judges the end: the span, dbt's results, the error or the output.
    pub(crate) fn finish(
        self,
        ended: Ended,
        run: &PipelineRun,
        stage: &'static Stage,
        timeout: Option<Duration>,
    ) -> Result<ProcessOutput, ProcessError> {
        let command = self.view.resource.clone();
        let report = self.dbt.as_ref().map(|d| {
            let report = d.read(self.started);
            dbt::record(&report, &self.span);
            if report.rows_affected > 0 {
                run.record_records(stage, report.rows_affected);
            }
            report
        });
        let tail = ended.stderr_tail;
        let err = match (ended.timed_out, ended.status, ended.wait_error) {
            (true, _, _) => Some(ProcessError::Timeout {
                command,
                after: timeout.unwrap_or_default(),
                stderr_tail: tail.clone(),
            }),
            (false, _, Some(source)) => Some(ProcessError::Io { command, source }),
            (false, Some(status), None) if status.success() => None,
            (false, Some(status), None) => Some(match status.code() {
                Some(code) => ProcessError::Exit {
                    command,
                    code,
                    failed: report
                        .as_ref()
                        .map(|r| r.failed.clone())
                        .unwrap_or_default(),
                    stderr_tail: tail.clone(),
                },
                None => ProcessError::Signal {
                    command,
                    signal: status.signal().unwrap_or(0),
                    stderr_tail: tail.clone(),
                },
            }),
            (false, None, None) => Some(ProcessError::Io {
                command,
                source: std::io::Error::other("the process's exit status was not received"),
            }),
        };
        match (err, ended.status) {
            (Some(err), _) => {
                spans::record_failure(&self.span, &err);
                Err(err)
            }
            (None, Some(status)) => {
                spans::record_success(&self.span, Some(&tail));
                Ok(ProcessOutput {
                    pid: ended.pid,
                    status,
                    stdout: ended.stdout,
                    stderr_tail: tail,
                    dbt: report,
                })
            }
            (None, None) => Err(ProcessError::Io {
                command: self.view.resource,
                source: std::io::Error::other("no exit status"),
            }),
        }
    }
}

pub(crate) const fn drain_limit() -> Duration {
    DRAIN_LIMIT
}
