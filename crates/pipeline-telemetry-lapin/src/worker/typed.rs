//! The `Worker`'s entry points for a handler whose error names its own
//! `error_type` ([`ErrorType`]).

use std::future::Future;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::Consumer;
use pipeline_telemetry::ErrorType;

use super::{Message, Records, Settlement, Worker};
use crate::error::{ConsumeError, SettleError};

impl Worker {
    /// [`consume`](Self::consume) for a handler whose error names its own
    /// `error_type` ([`ErrorType`]: a SQLSTATE class, an exit code, ...).
    ///
    /// # Errors
    /// As [`consume`](Self::consume).
    pub async fn consume_typed<F, Fut, T, E>(
        &self,
        mut consumer: Consumer,
        mut handler: F,
    ) -> Result<(), ConsumeError>
    where
        F: FnMut(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: ErrorType,
    {
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery.map_err(ConsumeError::Consumer)?;
            self.handle_typed(delivery, &mut handler).await?;
        }
        Ok(())
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
        self.handle_with(delivery, handler, <E as ErrorType>::error_type)
            .await
    }
}
