//! Errors, one enum per operation.
//!
//! Each message says what went wrong at its own level; an underlying error is
//! returned from `source()`, never repeated in the message.

use std::io;

/// A configuration value (from the environment or from code) that cannot be
/// used: the same shape as the OTLP exporter's `ConfigError` (setting,
/// value, reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DogStatsD address in {setting} ({value:?}): {reason}")]
#[non_exhaustive]
pub struct ConfigError {
    /// The environment variable or builder setting, e.g. `DD_DOGSTATSD_URL`
    /// (or `code`).
    pub setting: String,
    /// The rejected value.
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

impl ConfigError {
    pub(crate) fn new(
        setting: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            setting: setting.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Why the exporter could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The configuration is invalid (the setting is the `source()`).
    #[error("invalid DogStatsD configuration")]
    Config(#[from] ConfigError),
    /// The socket to the Agent could not be opened.
    #[error("cannot open the DogStatsD socket to {target}")]
    Connect {
        /// The target, as configured.
        target: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Another exporter is running in this process; drop its guard first.
    #[error("a DogStatsD exporter is already running in this process")]
    AlreadyRunning,
    /// This process was forked (without exec) from one whose exporter was
    /// running at the fork: its parent sends what was recorded before the
    /// fork. Start the exporter in the parent after forking (or stop it
    /// before), or exec.
    #[error("this process is a fork of one whose DogStatsD exporter was running; start the exporter after forking (or stop it before), or exec")]
    Forked,
    /// Another `metrics` recorder is installed globally. The exporter is
    /// not started.
    #[error("another `metrics` recorder is already installed")]
    RecorderAlreadySet,
}

/// Why a shutdown did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The flusher was busy past the timeout; what it held may be lost.
    #[error("the DogStatsD flusher did not finish in time")]
    TimedOut,
}
