//! Spans that already happened: work done elsewhere (a Spark job, a dbt
//! model) whose start and end times are only known afterwards, recorded as
//! children of a `tracing` span and exported like every other span.

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{Span as _, SpanBuilder, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, Key, KeyValue, Value};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::datadog_fields::SCOPE;

/// A span with explicit start and end times, recorded after the fact as a
/// child of a `tracing` span: it gets the parent's trace id, the parent's
/// span id as its parent id, and goes through the same exporter (queue,
/// batches, OTLP or console) as the spans of `tracing`.
///
/// Recording is a no-op when traces are not installed, or when the parent is
/// not exported (filtered out, [`tracing::Span::none`]): a completed span is
/// never exported as the root of a trace of its own.
///
/// Reading the parent's context starts the parent's OpenTelemetry span
/// (`tracing-opentelemetry` builds spans lazily): after that, an
/// `otel.name` or `otel.kind` recorded on the parent no longer applies;
/// its status and attributes still do.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use opentelemetry::trace::SpanKind;
/// use pipeline_telemetry_otel::CompletedSpan;
///
/// let end = SystemTime::now();
/// let start = end - Duration::from_secs(3);
/// let stage = tracing::info_span!("pipeline.stage", stage = "spark");
/// CompletedSpan::new("spark.job", start, end)
///     .with_kind(SpanKind::Internal)
///     .with_attribute("spark.job.id", 7_i64)
///     .with_error("Job aborted due to stage failure")
///     .record_under(&stage);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a completed span is exported only once recorded: call `record_under`"]
pub struct CompletedSpan {
    name: Cow<'static, str>,
    start: SystemTime,
    end: SystemTime,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    status: Status,
}

impl CompletedSpan {
    /// A span named `name` that ran from `start` to `end` (an `end` before
    /// `start` is taken as `start`: a zero-length span). Kind `Internal`,
    /// status unset, no attributes.
    pub fn new(name: impl Into<Cow<'static, str>>, start: SystemTime, end: SystemTime) -> Self {
        Self {
            name: name.into(),
            start,
            end: end.max(start),
            kind: SpanKind::Internal,
            attributes: Vec::new(),
            status: Status::Unset,
        }
    }

    /// Sets the span kind (default `Internal`).
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Adds one attribute.
    pub fn with_attribute(mut self, key: impl Into<Key>, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// Adds attributes.
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Sets the status (default unset).
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// Marks the span as failed with a description (status `Error`).
    pub fn with_error(self, description: impl Into<Cow<'static, str>>) -> Self {
        self.with_status(Status::error(description))
    }

    /// The span's start time.
    pub fn start(&self) -> SystemTime {
        self.start
    }

    /// The span's end time.
    pub fn end(&self) -> SystemTime {
        self.end
    }

    /// Records the span as a child of `parent` through the globally
    /// installed tracer provider (set by
    /// [`OtelBuilder::install`](crate::OtelBuilder::install)); a no-op when
    /// no provider is installed or `parent` is not exported.
    ///
    /// With [`OtelBuilder::build_layer`](crate::OtelBuilder::build_layer),
    /// use [`record_with`](Self::record_with) and the guard's
    /// [`tracer_provider`](crate::OtelGuard::tracer_provider).
    pub fn record_under(self, parent: &tracing::Span) {
        let tracer = opentelemetry::global::tracer(SCOPE);
        self.record_with_tracer(&tracer, parent);
    }

    /// Records the span as a child of `parent` through `provider` (the
    /// guard's [`tracer_provider`](crate::OtelGuard::tracer_provider)); a
    /// no-op when `parent` is not exported.
    pub fn record_with(self, provider: &SdkTracerProvider, parent: &tracing::Span) {
        let tracer = provider.tracer(SCOPE);
        self.record_with_tracer(&tracer, parent);
    }

    fn record_with_tracer<T: Tracer>(self, tracer: &T, parent: &tracing::Span) {
        let parent_cx = crate::span_context(parent);
        if !parent_cx.span().span_context().is_valid() {
            return;
        }
        self.start_span(tracer, &parent_cx);
    }

    fn start_span<T: Tracer>(self, tracer: &T, parent_cx: &Context) {
        let builder = SpanBuilder::from_name(self.name)
            .with_kind(self.kind)
            .with_start_time(self.start)
            .with_attributes(self.attributes);
        let mut span = tracer.build_with_context(builder, parent_cx);
        span.set_status(self.status);
        span.end_with_timestamp(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if let Ok(mut spans) = self.0.lock() {
                spans.extend(batch);
            }
            Ok(())
        }
    }

    #[test]
    fn not_exported_parent_records_nothing() {
        let spans = Collect::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let end = SystemTime::now();
        CompletedSpan::new("job", end - Duration::from_secs(1), end)
            .record_with(&provider, &tracing::Span::none());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("t")));
        tracing::subscriber::with_default(subscriber, || {
            let parent = tracing::info_span!("stage");
            CompletedSpan::new("job", end, end - Duration::from_secs(1))
                .record_with(&provider, &parent);
        });
        let got = spans.0.lock().map(|s| s.clone()).unwrap_or_default();
        let job: Vec<_> = got.iter().filter(|s| s.name == "job").collect();
        assert_eq!(job.len(), 1, "{got:#?}");
        assert_eq!(job[0].start_time, job[0].end_time, "end clamped to start");
    }
}
