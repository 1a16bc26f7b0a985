//! The `Worker`'s entry points for a handler whose error names its own
//! `error_type` ([`ErrorType`]).

use std::future::Future;

use lapin::message::Delivery;
use pipeline_telemetry::ErrorType;

use super::{Message, Records, Settlement, Worker};
use crate::channel::TracedConsumer;
use crate::error::{ConsumeError, SettleError};

impl Worker {
    /// [`consume`](Self::consume) for a handler whose error names its own
    /// `error_type` ([`ErrorType`]: a SQLSTATE class, an exit code, ...).
    ///
    /// # Errors
    /// As [`consume`](Self::consume).
    pub async fn consume_typed<F, Fut, T, E>(
        &self,
        consumer: impl Into<TracedConsumer>,
        handler: F,
    ) -> Result<(), ConsumeError>
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: ErrorType,
    {
        self.consume_with(consumer.into(), handler, <E as ErrorType>::error_type)
            .await
    }

    /// [`handle`](Self::handle) for a handler whose error names its own
    /// `error_type` ([`ErrorType`]).
    ///
    /// # Errors
    /// As [`handle`](Self::handle).
    pub async fn handle_typed<F, Fut, T, E>(
        &self,
        delivery: Delivery,
        handler: F,
    ) -> Result<Settlement, SettleError>
    where
        F: FnOnce(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: ErrorType,
    {
        self.handle_at(
            delivery,
            handler,
            <E as ErrorType>::error_type,
            self.server.as_ref(),
        )
        .await
    }
}
