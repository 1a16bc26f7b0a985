//! The spans of the RabbitMQ layer: one PRODUCER span per publish, one
//! CONSUMER span per processed delivery, with OpenTelemetry's messaging
//! attributes.
//!
//! Datadog's OTLP mapping names a span whose kind is producer or consumer
//! `<messaging.system>.<messaging.operation>` and gives it the resource
//! `<messaging.operation> <messaging.destination.name>`
//! (`GetOTelOperationNameV2` / `GetOTelResourceV2` in the Datadog Agent's
//! `pkg/trace/traceutil/otel_util.go`). Its lookup reads the key
//! `messaging.operation` (the semantic conventions renamed it
//! `messaging.operation.type`), so both are set: the spans show as
//! `rabbitmq.send` and `rabbitmq.process`, resources `send <exchange or
//! queue>` and `process <queue>`. `operation.name` is also set, so older
//! Agents (whose first mapping derives the name from the instrumentation
//! scope) show the same names.

use lapin::BasicProperties;
#[allow(deprecated)]
use opentelemetry_semantic_conventions::attribute::MESSAGING_OPERATION;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_MESSAGE_BODY_SIZE,
    MESSAGING_MESSAGE_CONVERSATION_ID, MESSAGING_MESSAGE_ID, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY,
    MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG, MESSAGING_SYSTEM, SERVER_ADDRESS, SERVER_PORT,
};
use tracing::field::Empty;

/// The operation name Datadog shows for a publish.
pub const SEND_OPERATION: &str = "rabbitmq.send";
/// The operation name Datadog shows for a processed delivery.
pub const PROCESS_OPERATION: &str = "rabbitmq.process";
/// The span attribute telling how a delivery was settled: `ack`, `nack`
/// or `requeue` (a nack asking the broker to redeliver).
pub const SETTLEMENT_FIELD: &str = "messaging.rabbitmq.settlement";

/// The broker the spans name as `server.address` / `server.port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ServerAddress {
    /// The host and port of an AMQP URI (`amqp://user:pass@host:port/vhost`),
    /// or `None` if it does not parse.
    ///
    /// ```
    /// use pipeline_telemetry_lapin::ServerAddress;
    /// let s = ServerAddress::from_uri("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
    /// assert_eq!((s.host.as_str(), s.port), ("127.0.0.1", 5672));
    /// ```
    pub fn from_uri(uri: &str) -> Option<Self> {
        let parsed: lapin::uri::AMQPUri = uri.parse().ok()?;
        Some(ServerAddress {
            host: parsed.authority.host,
            port: parsed.authority.port,
        })
    }
}

fn record_common(span: &tracing::Span, props: &BasicProperties, server: Option<&ServerAddress>) {
    if let Some(id) = props.message_id() {
        span.record(MESSAGING_MESSAGE_ID, id.as_str());
    }
    if let Some(id) = props.correlation_id() {
        span.record(MESSAGING_MESSAGE_CONVERSATION_ID, id.as_str());
    }
    if let Some(s) = server {
        span.record(SERVER_ADDRESS, s.host.as_str());
        span.record(SERVER_PORT, u64::from(s.port));
    }
}

/// Where a publish goes, as the span names it: the exchange, or for the
/// default exchange the routing key (which is then the queue's name).
pub(crate) fn publish_destination<'a>(exchange: &'a str, routing_key: &'a str) -> &'a str {
    if exchange.is_empty() {
        routing_key
    } else {
        exchange
    }
}

/// The PRODUCER span of one publish, child of the current span.
#[allow(deprecated)]
pub(crate) fn producer(
    exchange: &str,
    routing_key: &str,
    props: &BasicProperties,
    body_size: usize,
    server: Option<&ServerAddress>,
) -> tracing::Span {
    let destination = publish_destination(exchange, routing_key);
    let name = format!("publish {destination}");
    let span = tracing::info_span!(
        target: "pipeline_telemetry_lapin",
        "rabbitmq.send",
        otel.kind = "producer",
        otel.name = name.as_str(),
        "operation.name" = SEND_OPERATION,
        { MESSAGING_SYSTEM } = "rabbitmq",
        { MESSAGING_OPERATION } = "send",
        { MESSAGING_OPERATION_TYPE } = "send",
        { MESSAGING_OPERATION_NAME } = "publish",
        { MESSAGING_DESTINATION_NAME } = destination,
        { MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY } = routing_key,
        { MESSAGING_MESSAGE_BODY_SIZE } = body_size as u64,
        { MESSAGING_MESSAGE_ID } = Empty,
        { MESSAGING_MESSAGE_CONVERSATION_ID } = Empty,
        { SERVER_ADDRESS } = Empty,
        { SERVER_PORT } = Empty,
        { ERROR_TYPE } = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    record_common(&span, props, server);
    span
}

/// What a CONSUMER span describes.
pub(crate) struct DeliveryInfo<'a> {
    pub(crate) queue: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) delivery_tag: u64,
    pub(crate) body_size: usize,
    pub(crate) props: &'a BasicProperties,
}

/// The CONSUMER span of one delivery, child of `parent`: the current span
/// when the delivery is a stage call of the current run; else `None`, and
/// the caller sets its parent (the remote producer span, when the headers
/// carry one).
#[allow(deprecated)]
pub(crate) fn consumer(
    d: &DeliveryInfo<'_>,
    server: Option<&ServerAddress>,
    parent: Option<tracing::Id>,
) -> tracing::Span {
    let name = format!("process {}", d.queue);
    let span = tracing::info_span!(
        target: "pipeline_telemetry_lapin",
        parent: parent,
        "rabbitmq.process",
        otel.kind = "consumer",
        otel.name = name.as_str(),
        "operation.name" = PROCESS_OPERATION,
        { MESSAGING_SYSTEM } = "rabbitmq",
        { MESSAGING_OPERATION } = "process",
        { MESSAGING_OPERATION_TYPE } = "process",
        { MESSAGING_OPERATION_NAME } = "process",
        { MESSAGING_DESTINATION_NAME } = d.queue,
        { MESSAGING_RABBITMQ_DESTINATION_ROUTING_KEY } = d.routing_key,
        { MESSAGING_RABBITMQ_MESSAGE_DELIVERY_TAG } = d.delivery_tag,
        { MESSAGING_MESSAGE_BODY_SIZE } = d.body_size as u64,
        { MESSAGING_MESSAGE_ID } = Empty,
        { MESSAGING_MESSAGE_CONVERSATION_ID } = Empty,
        { SERVER_ADDRESS } = Empty,
        { SERVER_PORT } = Empty,
        { SETTLEMENT_FIELD } = Empty,
        { ERROR_TYPE } = Empty,
        pipeline_id = Empty,
        otel.status_code = Empty,
        otel.status_description = Empty,
    );
    record_common(&span, d.props, server);
    span
}

/// Marks `span` as failed with `error_type` and the error's message.
pub(crate) fn record_error(span: &tracing::Span, error_type: &str, error: &dyn std::fmt::Display) {
    span.record(ERROR_TYPE, error_type);
    span.record("otel.status_code", "error");
    span.record("otel.status_description", tracing::field::display(error));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exchange_is_named_by_its_routing_key() {
        assert_eq!(publish_destination("", "orders"), "orders");
        assert_eq!(publish_destination("events", "orders"), "events");
    }

    #[test]
    fn server_address_from_uri() {
        assert_eq!(ServerAddress::from_uri("not a uri"), None);
        let s = ServerAddress::from_uri("amqp://rabbit.internal/%2f");
        assert_eq!(s.map(|s| s.port), Some(5672));
    }
}
