//! The OpenTelemetry SDK's processor traits over a [`Batcher`]: the SDK hands
//! finished spans and log records to these, they queue them without blocking.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::batch::Batcher;
use crate::error::ShutdownError;
use crate::stage_spans::FinishedSpan;

fn sdk_result(r: Result<(), ShutdownError>) -> OTelSdkResult {
    match r {
        Ok(()) => Ok(()),
        Err(ShutdownError::Timeout(t)) => Err(OTelSdkError::Timeout(t)),
        Err(ShutdownError::AlreadyShutDown(_)) => Err(OTelSdkError::AlreadyShutdown),
        Err(e) => Err(OTelSdkError::InternalFailure(e.to_string())),
    }
}

/// Queues finished spans for the export thread: the sampled ones, and with
/// `export_rejected` also those of rejected traces.
///
/// The Agent's trace intake wants rejected traces as Datadog's tracers send
/// them (their chunks carry `_sampling_priority_v1` 0 or -1): the Agent
/// counts them in the APM trace metrics (hits, errors, latency) and then
/// drops them. Without them, a sampling rule or the Agent's own rates would
/// shrink those metrics by the rejected share. Over OTLP only sampled spans
/// go, as OpenTelemetry's exporters do.
#[derive(Debug)]
pub(crate) struct QueueSpanProcessor {
    pub(crate) batcher: Arc<Batcher<FinishedSpan>>,
    pub(crate) flush_timeout: Duration,
    pub(crate) export_rejected: bool,
}

impl SpanProcessor for QueueSpanProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.export_rejected || span.span_context.is_sampled() {
            self.batcher.push(FinishedSpan::Sdk(span));
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        sdk_result(self.batcher.flush(self.flush_timeout))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        sdk_result(self.batcher.shutdown(timeout))
    }
}

/// Queues log records for the export thread.
#[derive(Debug)]
pub(crate) struct QueueLogProcessor {
    pub(crate) batcher: Arc<Batcher<(SdkLogRecord, InstrumentationScope)>>,
    pub(crate) flush_timeout: Duration,
}

impl LogProcessor for QueueLogProcessor {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        self.batcher.push((record.clone(), scope.clone()));
    }

    fn force_flush(&self) -> OTelSdkResult {
        sdk_result(self.batcher.flush(self.flush_timeout))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        sdk_result(self.batcher.shutdown(timeout))
    }
}
