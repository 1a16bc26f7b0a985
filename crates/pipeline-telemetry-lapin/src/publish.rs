//! Publishing with the trace context in the message headers.

use std::future::Future;

use lapin::options::BasicPublishOptions;
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, PublisherConfirm};
use tracing::Instrument;

use crate::carrier::AmqpHeaders;
use crate::channel::TracedChannel;
use crate::error::PublishError;
use crate::spans::{self, ServerAddress};

/// Writes the trace context of `span` and the `pipeline_id` of its run
/// (`traceparent`, `tracestate`, `baggage`) into the headers of
/// `properties`, keeping the headers already there.
///
/// [`TracedPublish::publish_traced`] does this with the PRODUCER span; use
/// this function when you publish some other way.
///
/// ```
/// use lapin::BasicProperties;
/// use pipeline_telemetry_lapin::inject_headers;
///
/// let props = inject_headers(&tracing::Span::current(), BasicProperties::default());
/// # let _ = props;
/// ```
pub fn inject_headers(span: &tracing::Span, properties: BasicProperties) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    inject(span, &mut headers);
    properties.with_headers(headers)
}

/// The span's context and the current run's `pipeline_id` (found even
/// without the OpenTelemetry layer), else the one in the span's scope.
fn inject(span: &tracing::Span, headers: &mut FieldTable) {
    let mut carrier = AmqpHeaders(headers);
    match pipeline_telemetry::PipelineRun::current() {
        Some(run) => pipeline_telemetry::otel::inject_context_with_pipeline_id(
            span,
            run.pipeline_id(),
            &mut carrier,
        ),
        None => pipeline_telemetry::otel::inject_context(span, &mut carrier),
    }
}

/// `basic_publish` with a PRODUCER span and the trace context in the
/// message headers, as an extension of lapin's [`Channel`] and of
/// [`TracedChannel`] (whose spans also name the broker: `server.address`,
/// `server.port`).
///
/// ```no_run
/// use lapin::{options::BasicPublishOptions, BasicProperties};
/// use pipeline_telemetry::PipelineRun;
/// use pipeline_telemetry_lapin::{TracedChannel, TracedPublish};
///
/// # async fn f(channel: TracedChannel) -> Result<(), Box<dyn std::error::Error>> {
/// let run = PipelineRun::start("ingest", "run-42");
/// run.scope(async {
///     channel
///         .publish_traced("", "batches", BasicPublishOptions::default(), b"[1,2,3]", BasicProperties::default())
///         .await?
///         .await?; // the publisher confirm, if confirms are on
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })
/// .await?;
/// run.finish();
/// # Ok(()) }
/// ```
pub trait TracedPublish {
    /// Publishes `payload` like `basic_publish`, inside a `rabbitmq.send`
    /// span (child of the current span) whose context, with the current
    /// run's `pipeline_id`, goes into the message headers. Returns lapin's
    /// publisher confirm, to await as usual.
    fn publish_traced<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        options: BasicPublishOptions,
        payload: &'a [u8],
        properties: BasicProperties,
    ) -> impl Future<Output = Result<PublisherConfirm, PublishError>> + Send + 'a;
}

/// A plain channel: the span names no broker (lapin does not expose the
/// address); wrap the channel in a [`TracedChannel`] for that.
impl TracedPublish for Channel {
    fn publish_traced<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        options: BasicPublishOptions,
        payload: &'a [u8],
        properties: BasicProperties,
    ) -> impl Future<Output = Result<PublisherConfirm, PublishError>> + Send + 'a {
        publish(
            self,
            None,
            exchange,
            routing_key,
            options,
            payload,
            properties,
        )
    }
}

/// The span carries the channel's `server.address` and `server.port`.
impl TracedPublish for TracedChannel {
    fn publish_traced<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        options: BasicPublishOptions,
        payload: &'a [u8],
        properties: BasicProperties,
    ) -> impl Future<Output = Result<PublisherConfirm, PublishError>> + Send + 'a {
        publish(
            self.channel(),
            Some(self.server()),
            exchange,
            routing_key,
            options,
            payload,
            properties,
        )
    }
}

fn short(s: &str, what: &'static str) -> Result<ShortString, PublishError> {
    ShortString::try_new(s).map_err(|_| PublishError::NameTooLong { what })
}

async fn publish(
    channel: &Channel,
    server: Option<&ServerAddress>,
    exchange: &str,
    routing_key: &str,
    options: BasicPublishOptions,
    payload: &[u8],
    properties: BasicProperties,
) -> Result<PublisherConfirm, PublishError> {
    let span = spans::producer(exchange, routing_key, &properties, payload.len(), server);
    let result = async {
        let exchange = short(exchange, "exchange")?;
        let routing_key = short(routing_key, "routing key")?;
        let mut headers: FieldTable = properties.headers().clone().unwrap_or_default();
        inject(&span, &mut headers);
        channel
            .basic_publish(
                exchange,
                routing_key,
                options,
                payload,
                properties.with_headers(headers),
            )
            .await
            .map_err(PublishError::Publish)
    }
    .instrument(span.clone())
    .await;
    if let Err(e) = &result {
        let error_type = match e {
            PublishError::Publish(_) => "lapin::Error",
            _ => "PublishError",
        };
        spans::record_error(&span, error_type, e);
    }
    result
}
