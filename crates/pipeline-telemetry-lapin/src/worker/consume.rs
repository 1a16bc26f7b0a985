//! The delivery loop: up to N handlers at once, each delivery settled as
//! its handler completes.

use std::fmt::Display;
use std::future::Future;
use std::sync::atomic::Ordering;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;

use super::{by_type, Message, Records, Worker};
use crate::channel::TracedConsumer;
use crate::error::ConsumeError;

impl Worker {
    /// Handles every delivery of `consumer`, up to N at once (see
    /// [how many at once](Self#how-many-at-once)), each acknowledged or
    /// negatively acknowledged as soon as its handler completes, until the
    /// consumer is cancelled (`Ok`) or fails. Takes the
    /// [`TracedConsumer`] of [`TracedChannel::basic_consume`](crate::TracedChannel::basic_consume)
    /// or a plain lapin `Consumer`.
    ///
    /// When the consumer fails or a delivery cannot be settled, no new
    /// delivery is started; the handlers already running finish and settle
    /// theirs, then the first error is returned. Dropping the returned
    /// future drops the running handlers: their deliveries stay
    /// unacknowledged, and the broker redelivers them once the channel
    /// closes.
    ///
    /// # Errors
    /// When the consumer stream reports an error (channel or connection
    /// lost) or a delivery cannot be settled.
    pub async fn consume<F, Fut, T, E>(
        &self,
        consumer: impl Into<TracedConsumer>,
        handler: F,
    ) -> Result<(), ConsumeError>
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: Display,
    {
        self.consume_with(consumer.into(), handler, by_type::<E>)
            .await
    }

    /// How many deliveries of `consumer` are handled at once. A plain
    /// lapin `Consumer` without [`with_concurrency`](Self::with_concurrency)
    /// gets 1, and a warning (once per worker and its clones).
    pub(crate) fn concurrency_for(&self, consumer: &TracedConsumer) -> usize {
        if let Some(n) = self.concurrency {
            return n;
        }
        match &consumer.channel {
            Some(channel) => channel.prefetch().map_or(1, usize::from),
            None => {
                if !self.warned_one_at_a_time.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "pipeline_telemetry_lapin",
                        queue = %self.queue,
                        stage = self.stage.name(),
                        "Worker::consume handles a plain lapin Consumer one delivery at a time \
                         (its channel's prefetch is unknown): open the consumer with \
                         TracedChannel::basic_consume, or set Worker::with_concurrency"
                    );
                }
                1
            }
        }
    }

    /// The loop; `error_type` names the handler's error.
    pub(crate) async fn consume_with<F, Fut, T, E>(
        &self,
        consumer: TracedConsumer,
        handler: F,
        error_type: fn(&E) -> &'static str,
    ) -> Result<(), ConsumeError>
    where
        F: Fn(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: Display,
    {
        let limit = self.concurrency_for(&consumer);
        let server = match &consumer.channel {
            Some(channel) => Some(channel.server().clone()),
            None => self.server.clone(),
        };
        let mut deliveries = consumer.consumer;
        let mut running = FuturesUnordered::new();
        let mut first_error: Option<ConsumeError> = None;
        let mut open = true;
        loop {
            if open && running.len() < limit {
                tokio::select! {
                    // Settle what is done before taking more.
                    biased;
                    Some(done) = running.next() => {
                        if let Err(e) = done {
                            first_error.get_or_insert(ConsumeError::Settle(e));
                            open = false;
                        }
                    }
                    next = deliveries.next() => match next {
                        Some(Ok(delivery)) => running.push(self.handle_at(
                            delivery,
                            &handler,
                            error_type,
                            server.as_ref(),
                        )),
                        Some(Err(e)) => {
                            first_error.get_or_insert(ConsumeError::Consumer(e));
                            open = false;
                        }
                        None => open = false,
                    },
                }
            } else {
                match running.next().await {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        first_error.get_or_insert(ConsumeError::Settle(e));
                        open = false;
                    }
                    None => break,
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
