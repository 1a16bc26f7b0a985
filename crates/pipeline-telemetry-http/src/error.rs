//! Errors of the traced client call.

/// Why [`send_traced`](crate::TracedSend::send_traced) returned no
/// response. The CLIENT span is marked as an error in both cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The request could not be built (bad URL, header or body).
    #[error("the request could not be built")]
    Build(#[source] reqwest::Error),
    /// The request was sent but no response came (connection refused,
    /// timeout, ...).
    #[error("the request failed")]
    Send(#[source] reqwest::Error),
}
