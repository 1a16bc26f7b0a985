//! With metrics only (no OpenTelemetry layer, so no trace context), the
//! producer run's `pipeline_id` still reaches the worker's run through the
//! message's `baggage` header, read back by a raw lapin consumer as well.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicGetOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{MetricsTarget, PipelineRun, Stage};
use pipeline_telemetry_lapin::{Message, Settlement, TracedPublish, Worker};
use pipeline_telemetry_test_support::peers;

static HANDLE: Stage = Stage::new("handle");

#[test]
fn pipeline_id_travels_without_traces() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let sink = MemorySink::new();
    let _telemetry = common::telemetry("lapin-metrics-only", MetricsTarget::Memory(sink), None);
    let rt = common::runtime();
    let queue = common::unique("metrics_only");
    rt.block_on(async {
        let conn = common::connect().await;
        let channel = conn.create_channel().await.expect("channel");
        common::declare(&channel, &queue).await;
        let run = PipelineRun::start("producer", "run-no-otel-1");
        for _ in 0..2 {
            run.scope(channel.publish_traced(
                "",
                &queue,
                BasicPublishOptions::default(),
                b"x",
                BasicProperties::default(),
            ))
            .await
            .expect("publish")
            .await
            .expect("confirm");
        }
        run.finish();

        // A raw consumer sees the header as a long string.
        let raw = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
            .expect("a message");
        let headers = raw
            .delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        match headers.inner().get("baggage") {
            Some(AMQPValue::LongString(s)) => {
                assert_eq!(s.as_bytes(), b"pipeline_id=run-no-otel-1")
            }
            other => panic!("baggage header: {other:?}"),
        }
        assert!(
            headers.inner().get("traceparent").is_none(),
            "no trace without the OpenTelemetry layer"
        );

        // The worker's run takes the producer's pipeline_id.
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "c".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let delivery = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("delivery");
        let worker = Worker::new(&HANDLE, queue.as_str()).with_pipeline("consumer");
        let (tx, rx) = std::sync::mpsc::channel();
        let settled = worker
            .handle(delivery, move |_m: Message| async move {
                let _ = tx.send(PipelineRun::current().map(|r| r.pipeline_id().to_owned()));
                Ok::<_, std::io::Error>(())
            })
            .await
            .expect("settled");
        assert_eq!(settled, Settlement::Acked { records: 0 });
        assert_eq!(rx.recv().ok().flatten().as_deref(), Some("run-no-otel-1"));
        common::delete(&channel, &queue).await;
        let _ = conn.close(200, "done".into()).await;
    });
}
