//! [`ProcessStage`]: a command run as a pipeline stage.

use std::process::{Command, ExitStatus};
use std::time::Duration;

use pipeline_telemetry::Stage;

use crate::dbt::DbtReport;
use crate::error::ProcessError;
use crate::redact::Redaction;

/// Default bound of the stderr tail kept for the span and the error.
pub const DEFAULT_STDERR_TAIL: usize = 4 * 1024;

/// Default time a process group is given between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// A command (`dbt run`, a script, any executable) run as one call of a
/// pipeline [`Stage`].
///
/// The stage's span and metrics come from [`Stage`] (`pipeline.stage`
/// span, `pipeline.stage.duration`, `pipeline.errors` when the process
/// fails); inside it a `process.run` span carries the process's
/// semantic-convention attributes (`process.executable.name`,
/// `process.executable.path`, `process.pid`, `process.exit.code`),
/// `error.type` (`exit_<code>`, `signal_<n>`, `timeout`, `not_found`) and
/// the tail of its stderr. The arguments (`process.command_args`,
/// `process.command_line`) are recorded only when asked for with
/// [`with_command_args`](Self::with_command_args), as OpenTelemetry's
/// conventions advise, and then with secrets redacted.
///
/// The stage runs in the run current where it is called (entered with
/// `run.scope(..)`, `run.in_scope(..)` or `run.enter()`), as every
/// [`Stage`] call does; outside any run it is a stage call without a run
/// (metrics without the `pipeline` tag, the child without `PIPELINE_ID`).
///
/// The child runs in a process group of its own with the run's context in
/// `TRACEPARENT`, `TRACESTATE`, `BAGGAGE` and `PIPELINE_ID`. When the stage
/// ends (the process exited, timed out, or the async stage was dropped),
/// whatever is left of the group gets SIGTERM and, after the grace
/// period, SIGKILL. When this whole process ends first (Ctrl-C, SIGTERM,
/// SIGKILL, the OOM killer, a panic that aborts), a watchdog process
/// ends the group: see [the crate documentation](crate#no-child-outlives-its-pipeline).
/// A process that leaves the group itself (`setsid`, a daemon) is out of
/// reach.
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
/// let out = run.in_scope(|| {
///     ProcessStage::new(&DBT, dbt)
///         .with_timeout(Duration::from_secs(1800))
///         .with_forward_output(true)
///         .run()
/// })?;
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
    pub(crate) command_args: bool,
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
            command_args: false,
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

    /// Records the arguments on the `process.run` span
    /// (`process.command_args`, a JSON array, and `process.command_line`),
    /// redacted by the stage's [`Redaction`]. Off by default: the span then
    /// names the executable only (and, for dbt, its sub-command), since
    /// arguments often carry secrets that no rule can recognise.
    ///
    /// ```
    /// use std::process::Command;
    /// use pipeline_telemetry::Stage;
    /// use pipeline_telemetry_process::ProcessStage;
    ///
    /// static EXPORT: Stage = Stage::new("export");
    /// let mut cmd = Command::new("./export.sh");
    /// cmd.args(["--vars", r#"{"db_password": "x"}"#]);
    /// // On the span: ["./export.sh","--vars","{\"db_password\":\"REDACTED\"}"]
    /// let stage = ProcessStage::new(&EXPORT, cmd).with_command_args(true);
    /// # drop(stage);
    /// ```
    pub fn with_command_args(mut self, record: bool) -> Self {
        self.command_args = record;
        self
    }

    /// The rule that redacts secrets from the arguments on the span (when
    /// they are recorded: [`with_command_args`](Self::with_command_args)).
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Whether a dbt command's `run_results.json` is read (default on).
    pub fn with_dbt_results(mut self, read: bool) -> Self {
        self.dbt = read;
        self
    }

    /// Runs the process to its end as a call of the stage in the current
    /// run, blocking this thread (use [`run_async`](Self::run_async) in
    /// async code).
    ///
    /// The current run is the one entered here with `run.in_scope(..)`,
    /// `run.enter()` or, around a function, `#[instrument_stage]`; with
    /// none, the stage is recorded without a run, as any [`Stage`] call
    /// outside a run.
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
    pub fn run(self) -> Result<ProcessOutput, ProcessError> {
        let stage = self.stage;
        stage.run_typed(|| self.execute_sync())
    }

    /// Runs the process as a call of the stage in the run current at its
    /// first poll (`run.scope(..)`), without blocking the runtime: waiting
    /// for the process group and reading dbt's results happen on tokio's
    /// blocking pool. Dropping the future terminates the process group
    /// (SIGTERM, then SIGKILL after the grace period). With no current run,
    /// the stage is recorded without a run, as any [`Stage`] call outside
    /// a run.
    ///
    /// Must be polled inside a tokio runtime (it uses `tokio::process`).
    ///
    /// ```no_run
    /// use std::process::Command;
    /// use pipeline_telemetry::{PipelineRun, Stage};
    /// use pipeline_telemetry_process::ProcessStage;
    ///
    /// static DBT: Stage = Stage::new("dbt");
    ///
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let run = PipelineRun::start("daily_etl", "42");
    /// run.scope(async {
    ///     let mut dbt = Command::new("dbt");
    ///     dbt.arg("build");
    ///     ProcessStage::new(&DBT, dbt).run_async().await
    /// })
    /// .await?;
    /// run.finish();
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_async(self) -> Result<ProcessOutput, ProcessError> {
        let stage = self.stage;
        stage.run_async_typed(self.execute_async()).await
    }
}
