//! [`Worker`]: what every lapin consumer writes around each delivery, in
//! one call.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use lapin::BasicProperties;
use pipeline_telemetry::Stage;

use crate::spans::ServerAddress;

mod consume;
mod handle;
mod records;
mod typed;

pub use records::Records;

/// One delivery as the handler gets it: the body and what came with it
/// (acknowledging is the [`Worker`]'s job).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Message {
    /// The body.
    pub data: Vec<u8>,
    /// The exchange it was published to (empty for the default exchange).
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// Whether the broker delivered it before.
    pub redelivered: bool,
    /// Its properties and headers.
    pub properties: BasicProperties,
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Settlement {
    /// The handler succeeded; the delivery was acknowledged.
    Acked {
        /// Records counted for it.
        records: u64,
    },
    /// The handler returned an error; the delivery was negatively
    /// acknowledged (and requeued if the worker says so).
    Nacked {
        /// Whether the broker was asked to redeliver it.
        requeue: bool,
        /// The failure's `error_type`, as on `pipeline.errors` and the
        /// spans: the handler's error's own
        /// ([`ErrorType`](pipeline_telemetry::ErrorType), with
        /// [`Worker::consume_typed`] / [`Worker::handle_typed`]) or its short
        /// type name ([`error_type_name`](pipeline_telemetry::error_type_name));
        /// when the handler passed on the failure of a stage it called,
        /// that stage's `error_type`.
        error_type: &'static str,
    },
    /// The handler panicked; the delivery was negatively acknowledged
    /// without requeue (a poison message would panic again).
    Panicked,
}

/// Runs a handler around each delivery of a queue, as the stage you name:
/// opens the `rabbitmq.process` CONSUMER span, runs the handler as a stage
/// (so `#[instrument_stage]` functions called inside are stages too) in
/// the run the delivery belongs to (below), then acknowledges the delivery
/// on `Ok` and negatively acknowledges it on `Err` or panic, each delivery
/// as soon as its handler completes.
///
/// # Which run a delivery belongs to
///
/// Three cases, decided for each delivery where
/// [`consume`](Self::consume) or [`handle`](Self::handle) runs:
///
/// 1. **A run is current there** (`run.scope(worker.consume(..))`,
///    [`PipelineRun::current`](pipeline_telemetry::PipelineRun::current)
///    is `Some`): each delivery is a **stage call of that run**, like any
///    stage called in its scope. The worker's stage is tagged with the
///    current run's pipeline and `pipeline_id`, its failures mark that run
///    failed, its [`Records`] count in that run, and the `rabbitmq.process`
///    span is a child of the current span (the run's span, or the stage's
///    span when `consume` is called inside a stage). The producer's trace
///    context from the message headers becomes a **span link** on the
///    `rabbitmq.process` span (not its parent), so the producer's trace is
///    one click away. [`with_pipeline`](Self::with_pipeline) and
///    [`with_run_per_delivery`](Self::with_run_per_delivery) do not apply:
///    the current run is the caller's, and the caller ends it.
/// 2. **No run is current, the default**: the delivery **joins** the
///    producer's run
///    ([`PipelineRun::join`](pipeline_telemetry::PipelineRun::join)): same
///    trace (the `rabbitmq.process` span is a child of the producer's
///    span), same `pipeline_id`, its stages tagged with the worker's
///    pipeline ([`with_pipeline`](Self::with_pipeline), else the queue's
///    name) and their failures counted as usual, but no `pipeline.runs`
///    point and no `prefect.flow.duration` of its own: the producer's run
///    counts those once, so a worker that is one step of a larger pipeline
///    does not inflate its run count.
/// 3. **No run is current, with
///    [`with_run_per_delivery`](Self::with_run_per_delivery)**: each
///    delivery is a **new run** of the worker's pipeline (a job queue: one
///    message, one pipeline run), child of the producer's trace, with the
///    producer's `pipeline_id`.
///
/// # How many at once
///
/// [`consume`](Self::consume) handles up to N deliveries at once, each
/// settled as it completes: N is [`with_concurrency`](Self::with_concurrency)
/// when given, else the prefetch (`basic.qos`) of the channel the consumer
/// came from when it was opened with [`TracedChannel::basic_consume`](crate::TracedChannel::basic_consume),
/// else 1: a plain lapin `Consumer` does not say which channel, hence
/// which prefetch, it belongs to, so it is handled **one delivery at a
/// time**, and the worker logs one warning (`tracing::warn!`, once per
/// `Worker` and its clones) saying so. The handlers run concurrently on the
/// task that awaits `consume` (as `for_each_concurrent` does); work that
/// needs other threads should be spawned by the handler.
///
/// # Failures
///
/// A failed delivery counts `pipeline.errors` once, tagged with the stage
/// you name (`error_type` is the error's short type name, its own with
/// [`consume_typed`](Self::consume_typed) for an error that implements
/// [`ErrorType`](pipeline_telemetry::ErrorType), or `panic`); when the
/// handler passes on the failure of a stage it called (`?`), that stage
/// counted it, the worker's stage does not count it again, and the
/// worker's span and [`Settlement::Nacked`] carry that stage's
/// `error_type`. A successful delivery counts its [`Records`] in
/// `pipeline.records`. A panic in the handler is caught: it never reaches
/// lapin's delivery loop.
///
/// ```no_run
/// use lapin::options::{BasicConsumeOptions, BasicQosOptions};
/// use lapin::types::FieldTable;
/// use pipeline_telemetry::Stage;
/// use pipeline_telemetry_lapin::{Message, TracedChannel, Worker};
///
/// static PROCESS: Stage = Stage::new("process_batch");
///
/// # async fn f(channel: TracedChannel) -> Result<(), Box<dyn std::error::Error>> {
/// channel.basic_qos(8, BasicQosOptions::default()).await?;
/// let consumer = channel
///     .basic_consume("batches".into(), "worker".into(), BasicConsumeOptions::default(), FieldTable::default())
///     .await?;
/// Worker::new(&PROCESS, "batches")
///     .with_pipeline("ingest") // the producer's pipeline, which this worker is a step of
///     .consume(consumer, |msg: Message| async move {
///         // One row per line of the body.
///         let body = String::from_utf8_lossy(&msg.data);
///         let rows: Vec<&str> = body.lines().filter(|l| !l.is_empty()).collect();
///         // ... load the rows ...
///         Ok::<_, std::io::Error>(rows.len()) // counts the rows as records
///     })
///     .await?; // up to 8 deliveries at once
/// # Ok(()) }
/// ```
///
/// The worker of a pipeline that runs in this process (case 1): each
/// delivery is a stage call of `run`.
///
/// ```no_run
/// use pipeline_telemetry::{PipelineRun, Stage};
/// use pipeline_telemetry_lapin::{Message, TracedConsumer, Worker};
///
/// static LOAD: Stage = Stage::new("load");
///
/// # async fn f(consumer: TracedConsumer) -> Result<(), Box<dyn std::error::Error>> {
/// let run = PipelineRun::start("nightly_import", "2024-06-01");
/// // `load` is counted under "nightly_import", in this run.
/// run.scope(Worker::new(&LOAD, "imports").consume(consumer, |msg: Message| async move {
///     Ok::<_, std::io::Error>(msg.data.split(|b| *b == b'\n').count())
/// }))
/// .await?;
/// run.finish();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Worker {
    stage: &'static Stage,
    queue: String,
    pipeline: Option<String>,
    run_per_delivery: bool,
    requeue_on_error: bool,
    server: Option<ServerAddress>,
    concurrency: Option<usize>,
    /// Whether the one-at-a-time warning was logged (shared by clones).
    warned_one_at_a_time: Arc<AtomicBool>,
}

impl Worker {
    /// A worker whose handler is the stage `stage`, for deliveries of
    /// `queue`. Each delivery joins the producer's run (see
    /// [which run](Self#which-run-a-delivery-belongs-to)).
    pub fn new(stage: &'static Stage, queue: impl Into<String>) -> Self {
        Worker {
            stage,
            queue: queue.into(),
            pipeline: None,
            run_per_delivery: false,
            requeue_on_error: false,
            server: None,
            concurrency: None,
            warned_one_at_a_time: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The pipeline whose runs the deliveries are part of: the `pipeline`
    /// tag of the worker's stages (default: the queue's name) when no run
    /// is current (see [which run](Self#which-run-a-delivery-belongs-to)).
    /// Name the producer's pipeline, so that its stages and the worker's
    /// show together.
    ///
    /// Independent of [`with_run_per_delivery`](Self::with_run_per_delivery),
    /// in either order: it renames the pipeline and leaves the choice
    /// between joining and one run per delivery as it was. The pipeline is
    /// the one named last by either call.
    ///
    /// ```
    /// use pipeline_telemetry::Stage;
    /// use pipeline_telemetry_lapin::Worker;
    ///
    /// static JOB: Stage = Stage::new("job");
    /// // The same worker: each delivery is a run of its own of "jobs".
    /// let a = Worker::new(&JOB, "q").with_run_per_delivery("x").with_pipeline("jobs");
    /// let b = Worker::new(&JOB, "q").with_pipeline("x").with_run_per_delivery("jobs");
    /// ```
    pub fn with_pipeline(mut self, pipeline: impl Into<String>) -> Self {
        self.pipeline = Some(pipeline.into());
        self
    }

    /// Makes each delivery a run of its own of `pipeline` (one
    /// `pipeline.runs` point and one `prefect.flow.duration` per
    /// delivery), continuing the producer's trace and `pipeline_id`:
    /// for queues of jobs where one message is one pipeline run. Applies
    /// only where no run is current (see
    /// [which run](Self#which-run-a-delivery-belongs-to)).
    ///
    /// Independent of [`with_pipeline`](Self::with_pipeline), in either
    /// order: a later `with_pipeline` renames the pipeline and keeps one
    /// run per delivery.
    pub fn with_run_per_delivery(mut self, pipeline: impl Into<String>) -> Self {
        self.pipeline = Some(pipeline.into());
        self.run_per_delivery = true;
        self
    }

    /// How many deliveries [`consume`](Self::consume) handles at once
    /// (at least 1). Default: the prefetch of the consumer's channel, when
    /// known (see [how many at once](Self#how-many-at-once)), else 1 with
    /// a warning: give it for a plain lapin `Consumer`, or open the
    /// consumer with [`TracedChannel::basic_consume`](crate::TracedChannel::basic_consume).
    /// More than the prefetch never runs: the broker does not send more.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n.max(1));
        self
    }

    /// Whether a delivery whose handler returned `Err` is requeued
    /// (default: no, so that a dead-letter exchange gets it and a
    /// persistent error does not loop). Panics are never requeued.
    pub fn with_requeue_on_error(mut self, requeue: bool) -> Self {
        self.requeue_on_error = requeue;
        self
    }

    /// The broker's address, put on the spans (`server.address`,
    /// `server.port`), for deliveries that do not come through a
    /// [`TracedChannel`](crate::TracedChannel) (which names its own).
    pub fn with_server(mut self, server: ServerAddress) -> Self {
        self.server = Some(server);
        self
    }

    /// The pipeline the deliveries' stages are tagged with.
    fn pipeline(&self) -> &str {
        self.pipeline.as_deref().unwrap_or(&self.queue)
    }
}

/// The `error_type` of an error that does not name its own.
fn by_type<E>(_: &E) -> &'static str {
    pipeline_telemetry::error_type_name::<E>()
}
