//! `rabbitmq.queue.length`: a background poller of the queues' ready
//! message counts over AMQP passive `queue.declare`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{FieldTable, LongString, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};
use pipeline_telemetry_catalogue::{tags, RABBITMQ_QUEUE_LENGTH};
use pipeline_telemetry_dogstatsd::{CounterHandle, GaugeHandle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::CollectorError;

/// How often queues are polled unless told otherwise.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// The collector's own telemetry: one point per failed poll, tagged
/// `reason` (`missing_queue`, `broker`) and, for a missing queue, `queue`.
pub const POLL_ERRORS_METRIC: &str = "pipeline_telemetry.client.rabbitmq.poll_errors";

/// The name the collector's connection shows in RabbitMQ
/// (`rabbitmqctl list_connections client_properties`).
pub const CONNECTION_NAME: &str = "pipeline-telemetry queue-length collector";

/// Polls the ready-message count of the queues you name and sends it as
/// the gauge `rabbitmq.queue.length`, tagged `queue:<name>`,
/// `rabbitmq_queue:<name>` and `rabbitmq_vhost:<vhost>`.
///
/// It keeps its own connection and channel, reopened when the broker
/// closes them (a passive declare of a missing queue closes the channel;
/// a broker restart closes the connection). A missing queue or an
/// unreachable broker is logged once (and again once recovered), counted
/// in [`POLL_ERRORS_METRIC`] at every failed poll, and retried at the next
/// interval; it never stops the collector or touches the pipeline's own
/// connections.
///
/// ```no_run
/// use std::time::Duration;
/// use pipeline_telemetry_lapin::QueueLengthCollector;
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let _telemetry = pipeline_telemetry::init()?;
/// let collector = QueueLengthCollector::new("amqp://guest:guest@127.0.0.1:5672/%2f")
///     .with_queue("batches")
///     .with_interval(Duration::from_secs(10))
///     .start()?;
/// // ... the pipeline runs ...
/// collector.stop().await; // or drop it
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct QueueLengthCollector {
    uri: String,
    queues: Vec<String>,
    interval: Duration,
}

impl QueueLengthCollector {
    /// A collector for the broker at `uri` (`amqp://user:pass@host:port/vhost`).
    pub fn new(uri: impl Into<String>) -> Self {
        QueueLengthCollector {
            uri: uri.into(),
            queues: Vec::new(),
            interval: DEFAULT_INTERVAL,
        }
    }

    /// Adds a queue to poll.
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queues.push(queue.into());
        self
    }

    /// How often to poll (default [`DEFAULT_INTERVAL`], 10 s; at least
    /// 100 ms).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(100));
        self
    }

    /// Starts polling on the current tokio runtime; the first poll is
    /// immediate.
    ///
    /// # Errors
    /// When the URI does not parse, no queue was named, a queue name is
    /// too long, or there is no tokio runtime.
    pub fn start(self) -> Result<CollectorGuard, CollectorError> {
        let parsed: lapin::uri::AMQPUri = self.uri.parse().map_err(CollectorError::InvalidUri)?;
        if self.queues.is_empty() {
            return Err(CollectorError::NoQueue);
        }
        let handle = tokio::runtime::Handle::try_current().map_err(CollectorError::NoRuntime)?;
        let mut queues = Vec::with_capacity(self.queues.len());
        for name in &self.queues {
            let short = ShortString::try_new(name.as_str())
                .map_err(|_| CollectorError::QueueNameTooLong)?;
            let gauge = GaugeHandle::register(
                RABBITMQ_QUEUE_LENGTH.name,
                &[
                    (tags::QUEUE, name),
                    (tags::RABBITMQ_QUEUE, name),
                    (tags::RABBITMQ_VHOST, &parsed.vhost),
                ],
            );
            queues.push(Polled {
                name: name.clone(),
                short,
                gauge,
            });
        }
        let stats = Arc::new(Counters::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let poller = Poller {
            uri: self.uri,
            queues,
            interval: self.interval,
            connection: None,
            channel: None,
            problems: HashSet::new(),
            stats: stats.clone(),
        };
        let task = handle.spawn(poller.run(stop_rx));
        Ok(CollectorGuard {
            stop: Some(stop_tx),
            task: Some(task),
            stats,
        })
    }
}

/// Keeps the collector polling; dropping it (or [`stop`](Self::stop))
/// stops it. Drop it before the telemetry guard so that the last values
/// are flushed with the rest.
#[must_use = "the collector stops when this guard is dropped"]
#[derive(Debug)]
pub struct CollectorGuard {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    stats: Arc<Counters>,
}

/// What the collector did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectorStats {
    /// Queue lengths read and sent.
    pub polls: u64,
    /// Polls that failed (missing queue, broker unreachable).
    pub failures: u64,
    /// Connections opened (the first one included).
    pub connections: u64,
    /// Channels opened (the first one included).
    pub channels: u64,
}

#[derive(Debug, Default)]
struct Counters {
    polls: AtomicU64,
    failures: AtomicU64,
    connections: AtomicU64,
    channels: AtomicU64,
}

impl CollectorGuard {
    /// What the collector did so far.
    pub fn stats(&self) -> CollectorStats {
        let s = &self.stats;
        CollectorStats {
            polls: s.polls.load(Ordering::Relaxed),
            failures: s.failures.load(Ordering::Relaxed),
            connections: s.connections.load(Ordering::Relaxed),
            channels: s.channels.load(Ordering::Relaxed),
        }
    }

    /// Stops polling and waits until the collector closed its connection
    /// (at most about a second).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for CollectorGuard {
    fn drop(&mut self) {
        // The task sees the sender gone at its next wait and ends.
        drop(self.stop.take());
    }
}

#[derive(Debug)]
struct Polled {
    name: String,
    short: ShortString,
    gauge: GaugeHandle,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Problem {
    Broker,
    Missing(usize),
}

struct Poller {
    uri: String,
    queues: Vec<Polled>,
    interval: Duration,
    connection: Option<Connection>,
    channel: Option<Channel>,
    problems: HashSet<Problem>,
    stats: Arc<Counters>,
}

fn is_not_found(e: &lapin::Error) -> bool {
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p) if p.get_id() == 404)
}

impl Poller {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {}
            }
            let round = tokio::time::timeout(self.interval, self.poll_all());
            tokio::select! {
                _ = &mut stop => break,
                r = round => {
                    if r.is_err() {
                        // A hung broker: start afresh next time.
                        self.report(Problem::Broker, &"no answer within the poll interval");
                        self.channel = None;
                        self.connection = None;
                    }
                }
            }
        }
        if let Some(c) = self.connection.take() {
            let close = c.close(200, ShortString::from("collector stopped"));
            let _ = tokio::time::timeout(Duration::from_secs(1), close).await;
        }
    }

    async fn channel(&mut self) -> Result<Channel, lapin::Error> {
        if let Some(ch) = &self.channel {
            if ch.status().connected() {
                return Ok(ch.clone());
            }
        }
        self.channel = None;
        let usable = self
            .connection
            .as_ref()
            .is_some_and(|c| c.status().connected());
        if !usable {
            self.connection = None;
            let props = ConnectionProperties::default()
                .with_connection_name(LongString::from(CONNECTION_NAME));
            let c = Connection::connect(&self.uri, props).await?;
            self.stats.connections.fetch_add(1, Ordering::Relaxed);
            self.connection = Some(c);
        }
        let Some(conn) = &self.connection else {
            return Err(
                lapin::ErrorKind::InvalidConnectionState(lapin::ConnectionState::Closed).into(),
            );
        };
        let ch = conn.create_channel().await?;
        self.stats.channels.fetch_add(1, Ordering::Relaxed);
        self.channel = Some(ch.clone());
        Ok(ch)
    }

    async fn poll_all(&mut self) {
        for i in 0..self.queues.len() {
            let channel = match self.channel().await {
                Ok(ch) => ch,
                Err(e) => {
                    self.report(Problem::Broker, &e);
                    self.connection = None;
                    return;
                }
            };
            self.resolve(Problem::Broker);
            let options = QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            };
            let declared = channel
                .queue_declare(self.queues[i].short.clone(), options, FieldTable::default())
                .await;
            match declared {
                Ok(q) => {
                    self.queues[i].gauge.set(f64::from(q.message_count()));
                    self.stats.polls.fetch_add(1, Ordering::Relaxed);
                    self.resolve(Problem::Missing(i));
                }
                Err(e) if is_not_found(&e) => {
                    // The broker closed the channel with the 404.
                    self.channel = None;
                    self.report(Problem::Missing(i), &e);
                }
                Err(e) => {
                    self.channel = None;
                    self.report(Problem::Broker, &e);
                    return;
                }
            }
        }
    }

    fn report(&mut self, problem: Problem, error: &dyn std::fmt::Display) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        let queue = match &problem {
            Problem::Missing(i) => Some(self.queues[*i].name.as_str()),
            Problem::Broker => None,
        };
        let counter = match queue {
            Some(q) => CounterHandle::register(
                POLL_ERRORS_METRIC,
                &[("reason", "missing_queue"), (tags::QUEUE, q)],
            ),
            None => CounterHandle::register(POLL_ERRORS_METRIC, &[("reason", "broker")]),
        };
        counter.increment(1);
        if self.problems.insert(problem) {
            match queue {
                Some(q) => tracing::warn!(
                    target: "pipeline_telemetry_lapin",
                    queue = q,
                    error = %error,
                    "rabbitmq.queue.length: queue not found; retrying every poll"
                ),
                None => tracing::warn!(
                    target: "pipeline_telemetry_lapin",
                    error = %error,
                    "rabbitmq.queue.length: broker unreachable; retrying every poll"
                ),
            }
        }
    }

    fn resolve(&mut self, problem: Problem) {
        if self.problems.remove(&problem) {
            match problem {
                Problem::Missing(i) => tracing::info!(
                    target: "pipeline_telemetry_lapin",
                    queue = self.queues[i].name.as_str(),
                    "rabbitmq.queue.length: queue found again"
                ),
                Problem::Broker => tracing::info!(
                    target: "pipeline_telemetry_lapin",
                    "rabbitmq.queue.length: broker reachable again"
                ),
            }
        }
    }
}
