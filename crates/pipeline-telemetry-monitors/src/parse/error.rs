//! The parser's error.

use std::fmt;
use std::num::{ParseFloatError, ParseIntError};

/// Why a query could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseQueryError {
    /// Something else was expected at `position` (a byte offset).
    Syntax {
        /// The query.
        query: String,
        /// Byte offset of the problem.
        position: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// Valid Datadog syntax this parser does not implement.
    Unsupported {
        /// The query.
        query: String,
        /// What is not supported.
        what: &'static str,
    },
    /// The threshold is not a number.
    Threshold {
        /// The query.
        query: String,
        /// The number parser's error.
        source: ParseFloatError,
    },
    /// A window or shift length is not a number.
    Length {
        /// The query.
        query: String,
        /// The integer parser's error.
        source: ParseIntError,
    },
}

impl fmt::Display for ParseQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseQueryError::Syntax {
                query,
                position,
                expected,
            } => {
                write!(f, "expected {expected} at byte {position} of {query:?}")
            }
            ParseQueryError::Unsupported { query, what } => {
                write!(f, "{what} is not supported: {query:?}")
            }
            ParseQueryError::Threshold { query, .. } => {
                write!(f, "the threshold is not a number: {query:?}")
            }
            ParseQueryError::Length { query, .. } => {
                write!(f, "a window length is not a number: {query:?}")
            }
        }
    }
}

impl std::error::Error for ParseQueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ParseQueryError::Threshold { source, .. } => Some(source),
            ParseQueryError::Length { source, .. } => Some(source),
            _ => None,
        }
    }
}
