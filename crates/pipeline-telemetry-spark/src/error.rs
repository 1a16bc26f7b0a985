//! One error enum per operation: starting the monitor, one poll of the REST
//! API, stopping the monitor.

use std::time::Duration;

/// Why [`SparkMonitor::start`](crate::SparkMonitor::start) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The URL of the Spark UI or history server is not an `http://` URL.
    #[error("invalid Spark UI URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client of the Spark monitor")]
    Client(#[source] reqwest::Error),
    /// The monitor's thread could not be started.
    #[error("cannot start the Spark monitor's thread")]
    Thread(#[source] std::io::Error),
}

/// Why one poll of Spark's monitoring REST API failed. The monitor logs the
/// first failure of an outage, counts every one, and keeps polling.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// No connection, or no answer within the request timeout.
    #[error("Spark's REST API is unreachable at {url}")]
    Unreachable {
        /// The URL requested.
        url: String,
        /// The HTTP client's error.
        #[source]
        source: reqwest::Error,
    },
    /// An HTTP status other than 200.
    #[error("Spark's REST API answered {status} for {url}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body is not a JSON list, or is larger than the limit.
    #[error("Spark's REST API answered {url} with a body that is not a JSON list")]
    Malformed {
        /// The URL requested.
        url: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The body could not be read, or is larger than the limit.
    #[error("reading the answer of Spark's REST API for {url} failed")]
    Body {
        /// The URL requested.
        url: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The API lists no application with the wanted id or name.
    #[error("Spark's REST API at {url} lists no application {wanted}")]
    NoApplication {
        /// The URL requested.
        url: String,
        /// What was looked for (`id ...`, `named ...`, `at all`).
        wanted: String,
    },
}

impl PollError {
    /// A short, bounded reason for the client telemetry's `reason` tag.
    pub fn reason(&self) -> &'static str {
        match self {
            PollError::Unreachable { .. } => "unreachable",
            PollError::Status { .. } => "http_status",
            PollError::Malformed { .. } | PollError::Body { .. } => "malformed",
            PollError::NoApplication { .. } => "no_application",
        }
    }
}

/// Why stopping the monitor did not end cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StopError {
    /// The final read did not finish in time; the thread ends on its own
    /// once its last request times out.
    #[error("the Spark monitor did not stop within {0:?}")]
    Timeout(Duration),
    /// The monitor's thread panicked.
    #[error("the Spark monitor's thread panicked")]
    Panicked,
}
