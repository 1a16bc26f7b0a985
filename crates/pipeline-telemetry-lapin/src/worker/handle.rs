//! One delivery: its span, its run, the handler as a stage, its settlement.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::future::Either;
use futures_util::FutureExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::Acker;
use lapin::BasicProperties;
use opentelemetry::trace::TraceContextExt;
use pipeline_telemetry::PipelineRun;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{by_type, Message, Records, Settlement, Worker};
use crate::carrier::AmqpHeaders;
use crate::error::{HandlerPanicked, SettleError};
use crate::spans::{self, DeliveryInfo, ServerAddress, SETTLEMENT_FIELD};

impl Worker {
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
        self.handle_at(delivery, handler, by_type::<E>, self.server.as_ref())
            .await
    }

    /// Handles one delivery; `error_type` names the handler's error,
    /// `server` is the broker the spans name.
    pub(crate) async fn handle_at<F, Fut, T, E>(
        &self,
        delivery: Delivery,
        handler: F,
        error_type: fn(&E) -> &'static str,
        server: Option<&ServerAddress>,
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
        // Case 1 (see `Worker`'s docs): a run is current here, and the
        // delivery is a stage call of it; else a part or a run of its own.
        let current = PipelineRun::current();
        let parent = match current {
            Some(_) => tracing::Span::current().id(),
            None => None,
        };
        let span = spans::consumer(
            &DeliveryInfo {
                queue: &self.queue,
                routing_key: routing_key.as_str(),
                delivery_tag,
                body_size: data.len(),
                props: &properties,
            },
            server,
            parent,
        );
        let (run, own) = match current {
            Some(run) => {
                link_producer(&span, &properties);
                (run, false)
            }
            None => (self.open_run(&span, &properties), true),
        };
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
        let staged =
            stage.run_async_with_error_type(async move { handler(message).await }, error_type);
        // A run of its own is entered around the stage; the current run
        // already is (entering its span again would make it the stage's
        // parent instead of the CONSUMER span).
        let work = if own {
            Either::Left(run.scope(staged))
        } else {
            Either::Right(staged)
        };
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
                if own {
                    run.finish();
                }
                Settlement::Acked { records }
            }
            Ok(Err(e)) => {
                // What the stage reported: the handler's error type, or the
                // inner stage's when the handler passed its failure on. Read
                // as the stage completes, before anything else runs on this
                // task, so in the current run it is this delivery's.
                let error_type = run.last_error_type().unwrap_or_else(|| error_type(&e));
                spans::record_error(&span, error_type, &e);
                // A run of its own takes the failure's `error_type` on its
                // span as the stage recorded it; the current run is the
                // caller's to end (the stage marked it failed).
                if own {
                    run.fail(&e);
                }
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
                if own {
                    run.fail(&panicked);
                }
                Settlement::Panicked
            }
        };
        // A failure was counted once (`pipeline.errors`), by the stage; the
        // failed run only marks its span (and, for a run of its own,
        // `prefect.flow.duration`).
        let settled = settle(&acker, &settlement, &span).await;
        if let Err(e) = &settled {
            spans::record_error(&span, "lapin::Error", e);
        }
        settled.map(|()| settlement)
    }

    /// Opens what the delivery runs in when no run is current: a part of
    /// the producer's run (the default) or a run of its own. Its span is a child of the CONSUMER
    /// span, itself a child of the producer's span when the headers carry
    /// one. Missing or hostile headers start a new trace under a fresh
    /// `pipeline_id`.
    fn open_run(&self, span: &tracing::Span, properties: &BasicProperties) -> PipelineRun {
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
        if self.run_per_delivery {
            PipelineRun::continue_from(self.pipeline(), &hop)
        } else {
            PipelineRun::join(self.pipeline(), &hop)
        }
    }
}

/// Links the CONSUMER span of a delivery handled in the current run to
/// the producer's span, when the headers carry a valid trace context: the
/// producer's trace is not the span's parent there, but one link away.
fn link_producer(span: &tracing::Span, properties: &BasicProperties) {
    let Some(table) = properties.headers().as_ref() else {
        return;
    };
    let remote = pipeline_telemetry::otel::extract(&AmqpHeaders(table));
    if remote.is_valid() {
        span.add_link(remote.context().span().span_context().clone());
    }
}

/// Acknowledges, or negatively acknowledges, this one delivery (never
/// `multiple`: other deliveries may still be in their handlers).
async fn settle(
    acker: &Acker,
    settlement: &Settlement,
    span: &tracing::Span,
) -> Result<(), SettleError> {
    let nack = |requeue: bool| BasicNackOptions {
        multiple: false,
        requeue,
    };
    match settlement {
        Settlement::Acked { .. } => {
            span.record(SETTLEMENT_FIELD, "ack");
            acker
                .ack(BasicAckOptions { multiple: false })
                .await
                .map(drop)
                .map_err(SettleError::Ack)
        }
        Settlement::Nacked { requeue, .. } => {
            span.record(SETTLEMENT_FIELD, if *requeue { "requeue" } else { "nack" });
            acker
                .nack(nack(*requeue))
                .await
                .map(drop)
                .map_err(SettleError::Nack)
        }
        Settlement::Panicked => {
            span.record(SETTLEMENT_FIELD, "nack");
            acker
                .nack(nack(false))
                .await
                .map(drop)
                .map_err(SettleError::Nack)
        }
    }
}
