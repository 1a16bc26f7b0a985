//! Errors, one enum per operation.

use std::{fmt, io};

/// Why the configuration (from the environment or from code) is invalid.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// An address or URL could not be understood.
    InvalidAddress {
        /// Where it came from (an environment variable, or `code`).
        source_name: &'static str,
        /// The offending value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidAddress {
                source_name,
                value,
                reason,
            } => {
                write!(
                    f,
                    "invalid DogStatsD address in {source_name} ({value:?}): {reason}"
                )
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why the exporter could not be started.
#[derive(Debug)]
#[non_exhaustive]
pub enum InstallError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The socket to the Agent could not be opened.
    Connect {
        /// The target, as configured.
        target: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Another exporter is running in this process; drop its guard first.
    AlreadyRunning,
    /// Another `metrics` recorder is installed globally. The exporter is
    /// not started.
    RecorderAlreadySet,
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::Config(e) => write!(f, "{e}"),
            InstallError::Connect { target, .. } => {
                write!(f, "cannot open the DogStatsD socket to {target}")
            }
            InstallError::AlreadyRunning => {
                f.write_str("a DogStatsD exporter is already running in this process")
            }
            InstallError::RecorderAlreadySet => {
                f.write_str("another `metrics` recorder is already installed")
            }
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::Config(e) => Some(e),
            InstallError::Connect { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ConfigError> for InstallError {
    fn from(e: ConfigError) -> Self {
        InstallError::Config(e)
    }
}

/// Why a shutdown did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The flusher was busy past the timeout; what it held may be lost.
    TimedOut,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShutdownError::TimedOut => f.write_str("the DogStatsD flusher did not finish in time"),
        }
    }
}

impl std::error::Error for ShutdownError {}
