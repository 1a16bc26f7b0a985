//! One error enum per operation.

/// Why [`publish`](crate::TracedPublish::publish_traced) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The exchange or routing key is longer than an AMQP short string
    /// (255 bytes).
    #[error("{what} is longer than 255 bytes")]
    NameTooLong {
        /// `exchange` or `routing key`.
        what: &'static str,
    },
    /// lapin could not send the message.
    #[error("basic.publish failed")]
    Publish(#[source] lapin::Error),
}

/// Why a delivery could not be settled (acknowledged, or negatively
/// acknowledged) after its handler ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    /// `basic.ack` failed (e.g. the channel closed meanwhile; the broker
    /// then redelivers the message).
    #[error("basic.ack failed")]
    Ack(#[source] lapin::Error),
    /// `basic.nack` failed.
    #[error("basic.nack failed")]
    Nack(#[source] lapin::Error),
}

/// Why a [`Worker`](crate::Worker) stopped consuming.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumeError {
    /// The consumer stream reported an error (channel or connection lost).
    #[error("the consumer failed")]
    Consumer(#[source] lapin::Error),
    /// A delivery could not be settled.
    #[error("a delivery could not be settled")]
    Settle(#[from] SettleError),
}

/// Why the queue-length collector could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectorError {
    /// The AMQP URI does not parse.
    #[error("invalid AMQP URI: {0}")]
    InvalidUri(String),
    /// No queue was named.
    #[error("no queue to poll: name at least one with `with_queue`")]
    NoQueue,
    /// A queue name is longer than an AMQP short string (255 bytes).
    #[error("queue name longer than 255 bytes")]
    QueueNameTooLong,
    /// `start` was called outside a tokio runtime.
    #[error("the collector needs a tokio runtime")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
}

/// The error a [`Worker`](crate::Worker) records for a handler that
/// panicked (its `error_type` is `panic`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the handler panicked: {message}")]
#[non_exhaustive]
pub struct HandlerPanicked {
    /// The panic's message, when it was a string.
    pub message: String,
}
