//! The producer and consumer run as separate processes by the tests: this
//! same test binary started again with `PT_LAPIN_ROLE` set.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, Stage};
use pipeline_telemetry_lapin::{
    Message, ServerAddress, Settlement, TracedChannel, TracedPublish, Worker,
};
use pipeline_telemetry_test_support::peers;

use super::{connect, declare, runtime, telemetry, ROLE_VAR};

static PUBLISH: Stage = Stage::new("publish");
static HANDLE: Stage = Stage::new("handle");

/// A plain `#[instrument_stage]` function called inside the worker's
/// handler.
#[instrument_stage]
fn parse(body: &[u8]) -> Result<usize, std::str::Utf8Error> {
    Ok(std::str::from_utf8(body)?.split(',').count())
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

/// Runs the role named by `PT_LAPIN_ROLE`, if any.
pub(crate) fn dispatch() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    let token = var("PT_LAPIN_TOKEN");
    let queue = var("PT_LAPIN_QUEUE");
    let count: u32 = var("PT_LAPIN_COUNT").parse().expect("PT_LAPIN_COUNT");
    let guard = telemetry(
        &format!("lapin-{role}"),
        MetricsTarget::Memory(MemorySink::new()),
        Some(&token),
    );
    let rt = runtime();
    match role.as_str() {
        "produce" => rt.block_on(produce(&queue, count, &var("PT_LAPIN_PIPELINE_ID"))),
        "consume" => rt.block_on(consume(&queue, count)),
        other => panic!("unknown role {other}"),
    }
    drop(rt);
    guard
        .shutdown(Duration::from_secs(10))
        .expect("telemetry flushed");
}

fn server() -> ServerAddress {
    ServerAddress::from_uri(&peers::amqp_url()).expect("AMQP URL parses")
}

async fn produce(queue: &str, count: u32, pipeline_id: &str) {
    let conn = connect().await;
    // The broker's address is given once, with the channel.
    let channel = TracedChannel::new(conn.create_channel().await.expect("channel"), server());
    declare(&channel, queue).await;
    let run = PipelineRun::start("lapin_producer", pipeline_id);
    run.scope(PUBLISH.run_async(async {
        for i in 0..count {
            let body = format!("{i},{},{}", i + 1, i + 2);
            channel
                .publish_traced(
                    "",
                    queue,
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    BasicProperties::default().with_message_id(format!("m-{i}").into()),
                )
                .await?
                .await?;
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }))
    .await
    .expect("publish");
    run.finish();
    println!("produced {count} messages to {queue}");
    let _ = conn.close(200, "done".into()).await;
}

async fn consume(queue: &str, count: u32) {
    let conn = connect().await;
    let channel = conn.create_channel().await.expect("channel");
    declare(&channel, queue).await;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "pt-lapin-test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume");
    let worker = Worker::new(&HANDLE, queue)
        .with_pipeline("lapin_consumer")
        .with_server(server());
    for _ in 0..count {
        let delivery = tokio::time::timeout(Duration::from_secs(20), consumer.next())
            .await
            .expect("a delivery within 20 s")
            .expect("consumer open")
            .expect("delivery");
        let settled = worker
            .handle(delivery, |m: Message| async move { parse(&m.data) })
            .await
            .expect("settled");
        assert!(
            matches!(settled, Settlement::Acked { records: 3 }),
            "{settled:?}"
        );
    }
    println!("consumed {count} messages from {queue}");
    let _ = conn.close(200, "done".into()).await;
}
