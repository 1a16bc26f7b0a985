//! Why a subprocess stage failed.

use std::fmt;
use std::time::Duration;

use crate::error_type;

/// The error of [`ProcessStage::run`](crate::ProcessStage::run) and
/// [`ProcessStage::run_async`](crate::ProcessStage::run_async).
///
/// [`error_type`](Self::error_type) is the bounded value of the
/// `error_type` tag of `pipeline.errors` and of the span's `error.type`:
/// `exit_<code>`, `signal_<n>`, `timeout`, `not_found`, `spawn_failed` or
/// `io`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The executable could not be started (not found, not executable, ...).
    #[error("cannot start `{program}`")]
    Spawn {
        /// The executable as given.
        program: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The process exited with a non-zero code.
    #[error(
        "`{command}` exited with code {code}{}{}",
        Failed(failed),
        StderrTail(stderr_tail)
    )]
    Exit {
        /// The command as the span's resource names it: the executable
        /// (with dbt's sub-command, or a first argument that is a word when
        /// the arguments are recorded).
        command: String,
        /// The exit code.
        code: i32,
        /// Nodes a tool reported as failed (dbt models and tests).
        failed: Vec<String>,
        /// The last bytes of stderr, as valid UTF-8.
        stderr_tail: String,
    },
    /// The process was killed by a signal it did not handle.
    #[error("`{command}` was killed by signal {signal}{}", StderrTail(stderr_tail))]
    Signal {
        /// The command as the span's resource names it: the executable
        /// (with dbt's sub-command, or a first argument that is a word when
        /// the arguments are recorded).
        command: String,
        /// The signal number.
        signal: i32,
        /// The last bytes of stderr, as valid UTF-8.
        stderr_tail: String,
    },
    /// The process ran past the stage's timeout; its process group was
    /// terminated.
    #[error("`{command}` timed out after {after:?}{}", StderrTail(stderr_tail))]
    Timeout {
        /// The command as the span's resource names it: the executable
        /// (with dbt's sub-command, or a first argument that is a word when
        /// the arguments are recorded).
        command: String,
        /// The timeout.
        after: Duration,
        /// The last bytes of stderr, as valid UTF-8.
        stderr_tail: String,
    },
    /// Waiting for the process failed.
    #[error("waiting for `{command}` failed")]
    Io {
        /// The command as the span's resource names it: the executable
        /// (with dbt's sub-command, or a first argument that is a word when
        /// the arguments are recorded).
        command: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
}

impl ProcessError {
    /// The `error_type` tag value of this failure (bounded: `exit_0` to
    /// `exit_255`, `signal_1` to `signal_64`, and four words).
    pub fn error_type(&self) -> &'static str {
        match self {
            ProcessError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                "not_found"
            }
            ProcessError::Spawn { .. } => "spawn_failed",
            ProcessError::Exit { code, .. } => error_type::exit(*code),
            ProcessError::Signal { signal, .. } => error_type::signal(*signal),
            ProcessError::Timeout { .. } => "timeout",
            ProcessError::Io { .. } => "io",
        }
    }

    /// The tail of the process's stderr, when it ran.
    pub fn stderr_tail(&self) -> Option<&str> {
        match self {
            ProcessError::Exit { stderr_tail, .. }
            | ProcessError::Signal { stderr_tail, .. }
            | ProcessError::Timeout { stderr_tail, .. } => Some(stderr_tail),
            _ => None,
        }
    }
}

/// `; failed: a, b` when a tool named failed nodes.
struct Failed<'a>(&'a [String]);

impl fmt::Display for Failed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        f.write_str("; failed: ")?;
        for (i, name) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// `: <last line of stderr>` (the whole tail is on the span and in the
/// error log line).
struct StderrTail<'a>(&'a str);

impl fmt::Display for StderrTail<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.lines().rev().find(|l| !l.trim().is_empty()) {
            Some(last) => write!(f, ": {}", last.trim()),
            None => Ok(()),
        }
    }
}

impl pipeline_telemetry::ErrorType for ProcessError {
    fn error_type(&self) -> &'static str {
        ProcessError::error_type(self)
    }
}
