//! A producer publishes one pipeline run's batches to a RabbitMQ queue and a
//! worker consumes them: one trace from the producer's run through every
//! `rabbitmq.send` span to the worker's `rabbitmq.process` spans, the same
//! `pipeline_id` on both sides, `pipeline.records` counted by the worker
//! and `rabbitmq.queue.length` polled while it runs.
//!
//! ```text
//! cargo run --example amqp_worker              # producer and worker in one process
//! cargo run --example amqp_worker -- produce   # only publish the run's batches
//! cargo run --example amqp_worker -- consume   # only consume them
//! ```
//!
//! The broker is `AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`);
//! `AMQP_QUEUE` names the queue (default `pipeline_telemetry_example`),
//! `BATCHES` how many batches (default 5), `PIPELINE_ID` the run's id.
//! With no Agent configured the metrics are printed; point traces at an
//! Agent with `OTEL_EXPORTER_OTLP_ENDPOINT`.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};
use pipeline_telemetry_lapin::{
    CollectorGuard, Message, QueueLengthCollector, ServerAddress, Settlement, TracedPublish, Worker,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The worker's handler, run as this stage for each delivery.
static LOAD_BATCH: Stage = Stage::new("load_batch");

#[derive(Debug)]
struct BadBatch(String);

impl std::fmt::Display for BadBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a batch: {}", self.0)
    }
}

impl std::error::Error for BadBatch {}

/// A plain `#[instrument_stage]` function, called inside the worker's
/// handler unchanged: a stage of the delivery's run.
#[instrument_stage]
fn parse(body: &[u8]) -> Result<Vec<u64>, BadBatch> {
    let text = std::str::from_utf8(body).map_err(|e| BadBatch(e.to_string()))?;
    text.split(',')
        .map(|v| v.trim().parse::<u64>().map_err(|e| BadBatch(e.to_string())))
        .collect()
}

#[instrument_stage]
async fn publish_batches(channel: &Channel, queue: &str, batches: u32) -> Result<u32, BoxError> {
    for b in 0..batches {
        let rows: Vec<String> = (0..10 + b).map(|r| (b * 100 + r).to_string()).collect();
        channel
            .publish_traced(
                "",
                queue,
                BasicPublishOptions::default(),
                rows.join(",").as_bytes(),
                BasicProperties::default().with_message_id(format!("batch-{b}").into()),
            )
            .await?
            .await?;
    }
    Ok(batches)
}

async fn produce(
    channel: &Channel,
    queue: &str,
    batches: u32,
    pipeline_id: &str,
) -> Result<(), BoxError> {
    let run = PipelineRun::start("amqp_ingest", pipeline_id);
    let sent = run.scope(publish_batches(channel, queue, batches)).await?;
    println!("producer: published {sent} batches of run {pipeline_id} to {queue}");
    run.finish();
    Ok(())
}

async fn consume(
    channel: &Channel,
    queue: &str,
    batches: u32,
    server: ServerAddress,
) -> Result<(), BoxError> {
    channel.basic_qos(10, BasicQosOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            "amqp_worker_example".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let worker = Worker::new("amqp_worker", queue, &LOAD_BATCH).with_server(server);
    for _ in 0..batches {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .map_err(|_| "no batch arrived within 30 s")?
            .ok_or("the consumer was cancelled")??;
        let settlement = worker
            .handle(delivery, |msg: Message| async move {
                let rows = parse(&msg.data)?;
                tokio::time::sleep(Duration::from_millis(5)).await; // "load" them
                Ok::<_, BadBatch>(rows)
            })
            .await?;
        match settlement {
            Settlement::Acked { records } => println!("worker: batch acked, {records} records"),
            other => println!("worker: batch not processed: {other:?}"),
        }
    }
    Ok(())
}

/// Waits (at most 5 s) until the collector has read the queue `n` times.
async fn polls(collector: &CollectorGuard, n: u64) {
    for _ in 0..100 {
        if collector.stats().polls >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn main_async(role: &str) -> Result<(), BoxError> {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let queue =
        std::env::var("AMQP_QUEUE").unwrap_or_else(|_| "pipeline_telemetry_example".to_owned());
    let batches: u32 = std::env::var("BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let pipeline_id =
        std::env::var("PIPELINE_ID").unwrap_or_else(|_| format!("example-{}", std::process::id()));

    let connection = match Connection::connect(&url, ConnectionProperties::default()).await {
        Ok(c) => c,
        Err(e) => {
            return Err(format!(
                "cannot reach RabbitMQ at {url}: {e}\n\
                 Start it (scripts/ensure-services.sh does) or point AMQP_URL at a broker."
            )
            .into())
        }
    };
    let channel = connection.create_channel().await?;
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let server = ServerAddress::from_uri(&url).ok_or("AMQP_URL does not parse")?;

    match role {
        "produce" => produce(&channel, &queue, batches, &pipeline_id).await?,
        "consume" => consume(&channel, &queue, batches, server).await?,
        _ => {
            produce(&channel, &queue, batches, &pipeline_id).await?;
            // rabbitmq.queue.length: the batches wait in the queue...
            let collector = QueueLengthCollector::new(url.as_str())
                .with_queue(queue.as_str())
                .with_interval(Duration::from_millis(500))
                .start()?;
            polls(&collector, 1).await;
            consume(&channel, &queue, batches, server).await?;
            // ... and are gone once the worker acknowledged them.
            polls(&collector, collector.stats().polls + 1).await;
            println!("queue-length collector: {:?}", collector.stats());
            collector.stop().await;
        }
    }
    connection.close(200, "done".into()).await?;
    Ok(())
}

fn main() -> ExitCode {
    let role = std::env::args().nth(1).unwrap_or_else(|| "both".to_owned());
    if !["both", "produce", "consume"].contains(&role.as_str()) {
        eprintln!("usage: amqp_worker [both|produce|consume]");
        return ExitCode::from(2);
    }
    let telemetry = match pipeline_telemetry::init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("telemetry could not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("no tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(main_async(&role));
    drop(rt);
    drop(telemetry); // flushes metrics and spans
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("amqp_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
