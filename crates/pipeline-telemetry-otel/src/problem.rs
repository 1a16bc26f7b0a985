//! [`Problem`]: a setting [`install_lenient`](crate::OtelBuilder::install_lenient)
//! could not use as given, and what it did instead.

use std::error::Error as _;
use std::fmt;

use crate::error::{ConfigError, InstallError};

/// A tracing or logging setting that could not be used as given, and what
/// runs instead: one report line (`Display`: what is wrong, in which
/// variable or setting, what to set, and what happens meanwhile).
///
/// [`OtelBuilder::install_lenient`](crate::OtelBuilder::install_lenient)
/// returns them; [`install`](crate::OtelBuilder::install) fails on the
/// first one that is an error instead (a capped size never is).
#[derive(Debug)]
#[non_exhaustive]
pub struct Problem {
    error: InstallError,
    instead: String,
    fatal: bool,
}

impl Problem {
    /// What is wrong: the error [`install`](crate::OtelBuilder::install)
    /// returns for it (or, for a capped size, the reason).
    pub fn error(&self) -> &InstallError {
        &self.error
    }

    /// What was done instead, e.g. `spans are not exported`.
    pub fn instead(&self) -> &str {
        &self.instead
    }

    /// Whether [`install`](crate::OtelBuilder::install) fails on it (a
    /// capped size is only reported).
    pub fn is_error(&self) -> bool {
        self.fatal
    }

    /// Turns it into the error [`install`](crate::OtelBuilder::install)
    /// returns.
    pub fn into_error(self) -> InstallError {
        self.error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The configuration error itself says the variable, the value and
        // what is expected; its wrapper adds nothing.
        let mut cause: Option<&(dyn std::error::Error + 'static)> = match &self.error {
            InstallError::Config(c) => {
                write!(f, "{c}")?;
                None
            }
            other => {
                write!(f, "{other}")?;
                other.source()
            }
        };
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        if !self.instead.is_empty() {
            write!(f, "; {}", self.instead)?;
        }
        Ok(())
    }
}

/// Collects problems while the layers are built: strict (`install`) turns
/// the first error into `Err`, lenient (`install_lenient`) records it.
#[derive(Debug)]
pub(crate) struct Problems {
    lenient: bool,
    pub(crate) list: Vec<Problem>,
}

impl Problems {
    pub(crate) fn new(lenient: bool) -> Self {
        Self {
            lenient,
            list: Vec::new(),
        }
    }

    pub(crate) fn is_lenient(&self) -> bool {
        self.lenient
    }

    /// An invalid setting: the error when strict, else recorded with what
    /// is done instead.
    ///
    /// # Errors
    /// `error` itself, when strict.
    pub(crate) fn invalid(
        &mut self,
        error: impl Into<InstallError>,
        instead: impl Into<String>,
    ) -> Result<(), InstallError> {
        let error = error.into();
        if !self.lenient {
            return Err(error);
        }
        self.list.push(Problem {
            error,
            instead: instead.into(),
            fatal: true,
        });
        Ok(())
    }

    /// A setting used other than as given (a capped size): never an error.
    pub(crate) fn adjusted(&mut self, error: ConfigError, instead: impl Into<String>) {
        self.list.push(Problem {
            error: error.into(),
            instead: instead.into(),
            fatal: false,
        });
    }

    /// What was reported but not an error (strict mode prints these itself).
    pub(crate) fn print(&self) {
        for p in &self.list {
            eprintln!("pipeline-telemetry: {p}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_says_what_where_and_what_instead() {
        let mut p = Problems::new(true);
        p.invalid(
            ConfigError::new(
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "http/json",
                "expected `grpc` or `http/protobuf`",
            ),
            "spans are not exported",
        )
        .expect("lenient");
        assert_eq!(
            p.list[0].to_string(),
            "invalid OTEL_EXPORTER_OTLP_PROTOCOL \"http/json\": expected `grpc` or `http/protobuf`; \
             spans are not exported"
        );
        assert!(p.list[0].is_error());

        let mut strict = Problems::new(false);
        let err = strict
            .invalid(ConfigError::new("X", "y", "z"), "ignored")
            .expect_err("strict");
        assert!(matches!(err, InstallError::Config(_)));
        strict.adjusted(
            ConfigError::new("Q", "9", "more than the cap of 1"),
            "using 1",
        );
        assert!(!strict.list[0].is_error());
        assert_eq!(
            strict.list[0].to_string(),
            "invalid Q \"9\": more than the cap of 1; using 1"
        );
    }
}
