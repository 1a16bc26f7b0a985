//! A producer publishes one pipeline run's batches to a RabbitMQ queue and a
//! worker consumes them: one trace from the producer's run through every
//! `rabbitmq.send` span to the worker's `rabbitmq.process` spans, the same
//! `pipeline_id` on both sides, `pipeline.records` counted by the worker
//! (up to the channel's prefetch of batches at once, each a part of the
//! producer's run, not a run of its own) and `rabbitmq.queue.length`
//! polled while it runs.
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

use std::sync::atomic::{AtomicU32, Ordering};

use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use pipeline_telemetry::{instrument_stage, PipelineRun, Stage};
use pipeline_telemetry_lapin::{
    CollectorGuard, Message, QueueLengthCollector, ServerAddress, TracedChannel, TracedPublish,
    Worker,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The pipeline: the producer's runs, which the worker's deliveries are
/// parts of.
const PIPELINE: &str = "amqp_ingest";

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
/// handler unchanged: a stage of the delivery's part of the run.
#[instrument_stage]
fn parse(body: &[u8]) -> Result<Vec<u64>, BadBatch> {
    let text = std::str::from_utf8(body).map_err(|e| BadBatch(e.to_string()))?;
    text.split(',')
        .map(|v| v.trim().parse::<u64>().map_err(|e| BadBatch(e.to_string())))
        .collect()
}

#[instrument_stage]
async fn publish_batches(
    channel: &TracedChannel,
    queue: &str,
    batches: u32,
) -> Result<u32, BoxError> {
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
    channel: &TracedChannel,
    queue: &str,
    batches: u32,
    pipeline_id: &str,
) -> Result<(), BoxError> {
    let run = PipelineRun::start(PIPELINE, pipeline_id);
    let sent = run.scope(publish_batches(channel, queue, batches)).await?;
    println!("producer: published {sent} batches of run {pipeline_id} to {queue}");
    run.finish();
    Ok(())
}

async fn consume(channel: &TracedChannel, queue: &str, batches: u32) -> Result<(), BoxError> {
    // The worker handles up to the prefetch (10) batches at once.
    channel.basic_qos(10, BasicQosOptions::default()).await?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            "amqp_worker_example".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let tag = consumer.consumer().tag();
    let handled = AtomicU32::new(0);
    // Each batch is a part of the producer's run of the same pipeline (no
    // run of its own): its stages show under `amqp_ingest`.
    let worker = Worker::new(&LOAD_BATCH, queue).with_pipeline(PIPELINE);
    let work = worker.consume(consumer, |msg: Message| {
        let (handled, tag) = (&handled, tag.clone());
        async move {
            let rows = parse(&msg.data)?;
            tokio::time::sleep(Duration::from_millis(5)).await; // "load" them
            println!("worker: batch of {} records", rows.len());
            // A real worker consumes until it is shut down; this one stops
            // after the run's batches (the others still settle theirs).
            if handled.fetch_add(1, Ordering::SeqCst) + 1 == batches {
                channel
                    .basic_cancel(tag, BasicCancelOptions::default())
                    .await
                    .map_err(|e| BadBatch(e.to_string()))?;
            }
            Ok::<_, BadBatch>(rows)
        }
    });
    tokio::time::timeout(Duration::from_secs(30), work)
        .await
        .map_err(|_| "the batches were not all handled within 30 s")??;
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
    // The broker's address, given once: every span of the channel names it.
    let server = ServerAddress::from_uri(&url).ok_or("AMQP_URL does not parse")?;
    let channel = TracedChannel::new(connection.create_channel().await?, server);
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    match role {
        "produce" => produce(&channel, &queue, batches, &pipeline_id).await?,
        "consume" => consume(&channel, &queue, batches).await?,
        _ => {
            produce(&channel, &queue, batches, &pipeline_id).await?;
            // rabbitmq.queue.length: the batches wait in the queue...
            let collector = QueueLengthCollector::new(url.as_str())
                .with_queue(queue.as_str())
                .with_interval(Duration::from_millis(500))
                .start()?;
            polls(&collector, 1).await;
            consume(&channel, &queue, batches).await?;
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
