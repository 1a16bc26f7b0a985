//! The parser's error.

use std::num::{ParseFloatError, ParseIntError};

/// Why a query could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseQueryError {
    /// Something else was expected at `position` (a byte offset).
    #[error("expected {expected} at byte {position} of {query:?}")]
    Syntax {
        /// The query.
        query: String,
        /// Byte offset of the problem.
        position: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// Valid Datadog syntax this parser does not implement.
    #[error("{what} is not supported: {query:?}")]
    Unsupported {
        /// The query.
        query: String,
        /// What is not supported.
        what: &'static str,
    },
    /// The threshold is not a number.
    #[error("the threshold is not a number: {query:?}")]
    Threshold {
        /// The query.
        query: String,
        /// The number parser's error.
        source: ParseFloatError,
    },
    /// A window or shift length is not a number.
    #[error("a window length is not a number: {query:?}")]
    Length {
        /// The query.
        query: String,
        /// The integer parser's error.
        source: ParseIntError,
    },
}
