//! [`Worker`]: what every lapin consumer writes around each delivery, in
//! one call.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::{BasicProperties, Consumer};
use pipeline_telemetry::{error_type_name, PipelineRun, Stage};
use tracing::Instrument;

use crate::carrier::AmqpHeaders;
use crate::error::{ConsumeError, HandlerPanicked, SettleError};
use crate::spans::{self, DeliveryInfo, ServerAddress, SETTLEMENT_FIELD};

mod typed;

/// One delivery as the handler gets it: the body and what came with it
/// (acknowledging is the [`Worker`]'s job).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// The body.
    pub data: Vec<u8>,
    /// The exchange it was published to (empty for the default exchange).
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// Whether the broker delivered it before.
    pub redelivered: bool,
    /// Its properties and headers.
    pub properties: BasicProperties,
}

/// How many records a handler's success value stands for, counted as
/// `pipeline.records` under the worker's stage.
pub trait Records {
    /// The number of records.
    fn records(&self) -> u64;
}

impl Records for () {
    fn records(&self) -> u64 {
        0
    }
}

impl Records for u64 {
    fn records(&self) -> u64 {
        *self
    }
}

impl Records for u32 {
    fn records(&self) -> u64 {
        u64::from(*self)
    }
}

impl Records for usize {
    fn records(&self) -> u64 {
        *self as u64
    }
}

impl<T> Records for Vec<T> {
    fn records(&self) -> u64 {
        self.len() as u64
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// The handler succeeded; the delivery was acknowledged.
    Acked {
        /// Records counted for it.
        records: u64,
    },
    /// The handler returned an error; the delivery was negatively
    /// acknowledged (and requeued if the worker says so).
    Nacked {
        /// Whether the broker was asked to redeliver it.
        requeue: bool,
        /// The failure's `error_type`, as on `pipeline.errors` and the
        /// spans: the handler's error's own
        /// ([`ErrorType`](pipeline_telemetry::ErrorType), with
        /// [`Worker::consume_typed`] / [`Worker::handle_typed`]) or its short
        /// type name ([`error_type_name`]); when the handler passed on the
        /// failure of a stage it called, that stage's `error_type`.
        error_type: &'static str,
    },
    /// The handler panicked; the delivery was negatively acknowledged
    /// without requeue (a poison message would panic again).
    Panicked,
}

/// Runs a handler around each delivery of a queue: continues the
/// producer's trace and `pipeline_id` from the message headers, opens the
/// `rabbitmq.process` CONSUMER span, runs the handler as a stage of a run
/// of `pipeline` (so `#[instrument_stage]` functions called inside are
/// stages of that run), then acknowledges the delivery on `Ok` and
/// negatively acknowledges it on `Err` or panic.
///
/// A failed delivery counts `pipeline.errors` once, tagged with the stage
/// you name (`error_type` is the error's short type name
/// ([`error_type_name`]), its own with [`consume_typed`](Self::consume_typed)
/// for an error that implements [`ErrorType`](pipeline_telemetry::ErrorType),
/// or `panic`); when the handler passes on the failure of a stage it
/// called (`?`), that stage counted it, the worker's stage does not count
/// it again, and the worker's span and [`Settlement::Nacked`] carry that
/// stage's `error_type`. A successful
/// delivery counts its [`Records`] in `pipeline.records`. A panic in the
/// handler is caught: it never reaches lapin's delivery loop.
///
/// Each delivery is one run of `pipeline` (one `pipeline.runs` point) that
/// carries the producer's `pipeline_id`.
///
/// ```no_run
/// use lapin::Consumer;
/// use pipeline_telemetry::Stage;
/// use pipeline_telemetry_lapin::{Message, Worker};
///
/// static PROCESS: Stage = Stage::new("process_batch");
///
/// # async fn f(consumer: Consumer) -> Result<(), Box<dyn std::error::Error>> {
/// let worker = Worker::new("ingest_worker", "batches", &PROCESS);
/// worker
///     .consume(consumer, |msg: Message| async move {
///         let rows: Vec<u8> = msg.data; // parse, load, ...
///         Ok::<_, std::io::Error>(rows) // counts rows.len() records
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Worker {
    pipeline: String,
    queue: String,
    stage: &'static Stage,
    requeue_on_error: bool,
    server: Option<ServerAddress>,
}

impl Worker {
    /// A worker for deliveries of `queue`, each a run of `pipeline` whose
    /// handler is the stage `stage`.
    pub fn new(
        pipeline: impl Into<String>,
        queue: impl Into<String>,
        stage: &'static Stage,
    ) -> Self {
        Worker {
            pipeline: pipeline.into(),
            queue: queue.into(),
            stage,
            requeue_on_error: false,
            server: None,
        }
    }

    /// Whether a delivery whose handler returned `Err` is requeued
    /// (default: no, so that a dead-letter exchange gets it and a
    /// persistent error does not loop). Panics are never requeued.
    pub fn with_requeue_on_error(mut self, requeue: bool) -> Self {
        self.requeue_on_error = requeue;
        self
    }

    /// The broker's address, put on the spans (`server.address`,
    /// `server.port`).
    pub fn with_server(mut self, server: ServerAddress) -> Self {
        self.server = Some(server);
        self
    }

    /// Handles every delivery of `consumer`, one after the other, until
    /// the consumer is cancelled (`Ok`) or fails.
    ///
    /// # Errors
    /// When the consumer stream reports an error (channel or connection
    /// lost) or a delivery cannot be settled.
    pub async fn consume<F, Fut, T, E>(
        &self,
        mut consumer: Consumer,
        mut handler: F,
    ) -> Result<(), ConsumeError>
    where
        F: FnMut(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: Display,
    {
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery.map_err(ConsumeError::Consumer)?;
            self.handle(delivery, &mut handler).await?;
        }
        Ok(())
    }

    /// Handles one delivery (for consumers driven by hand or by
    /// `Consumer::set_delegate`).
    ///
    /// # Errors
    /// When the delivery cannot be acknowledged or negatively
    /// acknowledged (the handler's own error is reported in the
    /// [`Settlement`], not here).
    pub async fn handle<F, Fut, T, E>(
        &self,
        delivery: Delivery,
        handler: F,
    ) -> Result<Settlement, SettleError>
    where
        F: FnOnce(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: Display,
    {
        self.handle_with(delivery, handler, by_type::<E>).await
    }

    /// Handles one delivery; `error_type` names the handler's error.
    pub(crate) async fn handle_with<F, Fut, T, E>(
        &self,
        delivery: Delivery,
        handler: F,
        error_type: fn(&E) -> &'static str,
    ) -> Result<Settlement, SettleError>
    where
        F: FnOnce(Message) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Records,
        E: Display,
    {
        let Delivery {
            delivery_tag,
            exchange,
            routing_key,
            redelivered,
            properties,
            data,
            acker,
        } = delivery;
        let span = spans::consumer(
            &DeliveryInfo {
                queue: &self.queue,
                routing_key: routing_key.as_str(),
                delivery_tag,
                body_size: data.len(),
                props: &properties,
            },
            self.server.as_ref(),
        );
        let run = self.continue_run(&span, &properties);
        span.record("pipeline_id", run.pipeline_id());

        let message = Message {
            data,
            exchange: exchange.to_string(),
            routing_key: routing_key.to_string(),
            redelivered,
            properties,
        };
        // The handler is called inside the future, so a panic while it
        // builds its future is caught too.
        let stage = self.stage;
        let work = run.scope(
            stage.run_async_with_error_type(async move { handler(message).await }, error_type),
        );
        let result = AssertUnwindSafe(work)
            .catch_unwind()
            .instrument(span.clone())
            .await;

        let settlement = match result {
            Ok(Ok(value)) => {
                let records = value.records();
                if records > 0 {
                    run.record_records(stage, records);
                }
                run.finish();
                Settlement::Acked { records }
            }
            Ok(Err(e)) => {
                // What the stage reported: the handler's error type, or the
                // inner stage's when the handler passed its failure on.
                let error_type = run.last_error_type().unwrap_or_else(|| error_type(&e));
                spans::record_error(&span, error_type, &e);
                // The run's span takes the failure's `error_type` as the
                // stage recorded it.
                run.fail(&e);
                Settlement::Nacked {
                    requeue: self.requeue_on_error,
                    error_type,
                }
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let panicked = HandlerPanicked { message };
                spans::record_error(&span, "panic", &panicked);
                run.fail(&panicked);
                Settlement::Panicked
            }
        };
        // A failure was counted once (`pipeline.errors`), by the stage; the
        // failed run only marks its span and `prefect.flow.duration`.

        let settled = match &settlement {
            Settlement::Acked { .. } => {
                span.record(SETTLEMENT_FIELD, "ack");
                acker
                    .ack(BasicAckOptions::default())
                    .await
                    .map_err(SettleError::Ack)
            }
            Settlement::Nacked { requeue, .. } => {
                span.record(SETTLEMENT_FIELD, if *requeue { "requeue" } else { "nack" });
                acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: *requeue,
                    })
                    .await
                    .map_err(SettleError::Nack)
            }
            Settlement::Panicked => {
                span.record(SETTLEMENT_FIELD, "nack");
                acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: false,
                    })
                    .await
                    .map_err(SettleError::Nack)
            }
        };
        if let Err(e) = &settled {
            spans::record_error(&span, "lapin::Error", e);
        }
        settled.map(|_| settlement)
    }

    /// Opens the delivery's run: its span is a child of the CONSUMER span,
    /// itself a child of the producer's span when the headers carry one.
    /// Missing or hostile headers start a new trace under a fresh
    /// `pipeline_id`.
    fn continue_run(&self, span: &tracing::Span, properties: &BasicProperties) -> PipelineRun {
        let empty = lapin::types::FieldTable::default();
        let table = properties.headers().as_ref().unwrap_or(&empty);
        let remote = pipeline_telemetry::otel::extract(&AmqpHeaders(table));
        // No (valid) remote context: the CONSUMER span starts a new trace.
        let _ = remote.set_parent(span);
        let mut hop: BTreeMap<String, String> = BTreeMap::new();
        match &remote.pipeline_id {
            Some(id) => {
                pipeline_telemetry::otel::inject_context_with_pipeline_id(span, id, &mut hop)
            }
            None => pipeline_telemetry::otel::inject_context(span, &mut hop),
        }
        PipelineRun::continue_from(&self.pipeline, &hop)
    }
}

/// The `error_type` of an error that does not name its own.
fn by_type<E>(_: &E) -> &'static str {
    error_type_name::<E>()
}
