//! Before the spawn ([`ProcessStage::prepare`]: the span, the
//! environment, the pipes) and after the end ([`Prepared::finish`]: the
//! error or the output).

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use pipeline_telemetry::{PipelineRun, Stage};

use crate::carrier::{EnvCarrier, PIPELINE_ID_VAR};
use crate::command::{ProcessOutput, ProcessStage};
use crate::dbt::{self, DbtInvocation, DbtReport};
use crate::error::ProcessError;
use crate::output::{OutputCollector, Stream};
use crate::spans::{self, CommandView};

/// How long the output of an exited process is still read (a process that
/// escaped the group may keep the pipes open).
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

impl ProcessStage {
    /// Everything before the spawn: the span, the environment, the group,
    /// the pipes, dbt detection.
    pub(crate) fn prepare(&mut self, run: Option<&PipelineRun>) -> Prepared {
        let view = CommandView::of(&self.command, &self.redaction, self.command_args);
        let span = spans::process_span(&view, self.stage.name());
        let mut env = EnvCarrier::new();
        match run {
            Some(run) => {
                pipeline_telemetry::otel::inject_context_with_pipeline_id(
                    &span,
                    run.pipeline_id(),
                    &mut env,
                );
                env.apply_to(&mut self.command);
                self.command.env(PIPELINE_ID_VAR, run.pipeline_id());
            }
            None => {
                // No run: the trace goes on, no run id is made up, and
                // none is inherited from this process's environment.
                pipeline_telemetry::otel::inject_context(&span, &mut env);
                env.apply_to(&mut self.command);
                self.command.env_remove(PIPELINE_ID_VAR);
            }
        }
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

    /// Judges the end: the span, the records dbt reported (`report`, read
    /// by [`read_dbt`]), the error or the output.
    pub(crate) fn finish(
        self,
        ended: Ended,
        report: Option<DbtReport>,
        run: Option<&PipelineRun>,
        stage: &'static Stage,
        timeout: Option<Duration>,
    ) -> Result<ProcessOutput, ProcessError> {
        let command = self.view.resource.clone();
        if let Some(report) = report.as_ref().filter(|r| r.rows_affected > 0) {
            match run {
                Some(run) => run.record_records(stage, report.rows_affected),
                // Outside a run, as the stage's own metrics: no `pipeline` tag.
                None => stage.record_records(report.rows_affected),
            }
        }
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

/// Reads dbt's results written since `started` and records them as spans
/// under `span`: file work (up to 64 MiB of JSON), never done on an async
/// runtime's thread.
pub(crate) fn read_dbt(
    dbt: Option<DbtInvocation>,
    started: SystemTime,
    span: &tracing::Span,
) -> Option<DbtReport> {
    dbt.map(|d| {
        let report = d.read(started);
        dbt::record(&report, span);
        report
    })
}
