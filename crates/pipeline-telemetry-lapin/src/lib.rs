//! The RabbitMQ layer of pipeline-telemetry, for [lapin] 4: one trace from
//! the producer to the worker, messaging spans Datadog names
//! `rabbitmq.send` / `rabbitmq.process`, and the `rabbitmq.queue.length`
//! gauge.
//!
//! - [`TracedChannel`]: a lapin channel and the broker's address, given
//!   once where the channel is made (lapin does not expose it), so that
//!   every span of the channel carries `server.address` / `server.port`.
//! - [`TracedPublish::publish_traced`]: `basic_publish` inside a PRODUCER
//!   span, with W3C `traceparent`/`tracestate` and `baggage` (carrying the
//!   run's `pipeline_id`) in the message headers.
//! - [`Worker`]: around each delivery, opens the CONSUMER span and runs the
//!   handler as a stage: of the run current where the worker is called
//!   (the producer's span then a span link), else of the producer's run,
//!   continuing its trace and `pipeline_id` (joined, not a run of its own,
//!   unless [`Worker::with_run_per_delivery`]); acknowledges or negatively
//!   acknowledges by its result, counts records; up to the channel's
//!   prefetch at once; a panicking handler is caught, nacked and counted.
//! - [`QueueLengthCollector`]: polls queues' ready counts (passive
//!   `queue.declare` on its own channel) into `rabbitmq.queue.length`.
//! - [`AmqpHeaders`]: the headers table as the workspace's
//!   [`Carrier`](pipeline_telemetry::otel::Carrier).
//!
//! ```no_run
//! use lapin::{options::*, types::FieldTable, BasicProperties, Connection, ConnectionProperties};
//! use pipeline_telemetry::{PipelineRun, Stage};
//! use pipeline_telemetry_lapin::{
//!     Message, QueueLengthCollector, ServerAddress, TracedChannel, TracedPublish, Worker,
//! };
//!
//! static HANDLE: Stage = Stage::new("handle_batch");
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _telemetry = pipeline_telemetry::init()?;
//!     let url = "amqp://guest:guest@127.0.0.1:5672/%2f";
//!     let _queue_length = QueueLengthCollector::new(url).with_queue("batches").start()?;
//!
//!     let conn = Connection::connect(url, ConnectionProperties::default()).await?;
//!     let server = ServerAddress::from_uri(url).ok_or("AMQP URL does not parse")?;
//!     let channel = TracedChannel::new(conn.create_channel().await?, server);
//!     channel
//!         .queue_declare("batches".into(), QueueDeclareOptions::default(), FieldTable::default())
//!         .await?;
//!
//!     // Producer: inside a run.
//!     let run = PipelineRun::start("ingest", "run-42");
//!     run.scope(channel.publish_traced(
//!         "",
//!         "batches",
//!         BasicPublishOptions::default(),
//!         b"[1,2,3]",
//!         BasicProperties::default(),
//!     ))
//!     .await?;
//!     run.finish();
//!
//!     // Worker: one call around each delivery, up to 8 at once, each a
//!     // part of the producer's run of "ingest".
//!     channel.basic_qos(8, BasicQosOptions::default()).await?;
//!     let consumer = channel
//!         .basic_consume("batches".into(), "worker".into(), BasicConsumeOptions::default(), FieldTable::default())
//!         .await?;
//!     Worker::new(&HANDLE, "batches")
//!         .with_pipeline("ingest")
//!         .consume(consumer, |msg: Message| async move {
//!             Ok::<_, std::io::Error>(msg.data.len())
//!         })
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! [lapin]: https://docs.rs/lapin/4
#![deny(missing_docs)]

mod carrier;
mod channel;
mod collector;
mod error;
mod publish;
mod spans;
mod worker;

pub use carrier::AmqpHeaders;
pub use channel::{TracedChannel, TracedConsumer};
pub use collector::{
    CollectorGuard, CollectorStats, QueueLengthCollector, CONNECTION_NAME, DEFAULT_INTERVAL,
    POLL_ERRORS_METRIC,
};
pub use error::{CollectorError, ConsumeError, HandlerPanicked, PublishError, SettleError};
pub use publish::{inject_headers, TracedPublish};
pub use spans::{ServerAddress, PROCESS_OPERATION, SEND_OPERATION, SETTLEMENT_FIELD};
pub use worker::{Message, Records, Settlement, Worker};
