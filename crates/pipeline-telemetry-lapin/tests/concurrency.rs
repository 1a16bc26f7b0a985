//! The `Worker` handles up to the channel's prefetch at once, against the
//! real broker: handlers that wait on a barrier of N can only all pass it
//! when N deliveries are in their handlers at the same time (one at a time,
//! the first waits forever and the watchdog fails the test). Each delivery
//! is settled as its handler completes, and the broker's own counts
//! (`rabbitmqctl list_queues`) show nothing lost, left unacknowledged or
//! settled twice (a second ack of a delivery tag would close the channel).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::Channel;
use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{MetricsTarget, Stage, TelemetryGuard};
use pipeline_telemetry_lapin::{Message, ServerAddress, TracedChannel, TracedConsumer, Worker};
use pipeline_telemetry_test_support::peers;
use tokio::sync::{Barrier, Notify};

static HANDLE: Stage = Stage::new("handle");

/// How long the deliveries may take in all before the test gives up: a
/// watchdog against a hang, not a measure of speed.
const WATCHDOG: Duration = Duration::from_secs(60);

fn telemetry() -> &'static TelemetryGuard {
    static GUARD: OnceLock<TelemetryGuard> = OnceLock::new();
    GUARD.get_or_init(|| {
        common::telemetry(
            "lapin-concurrency",
            MetricsTarget::Memory(MemorySink::new()),
            None,
        )
    })
}

#[derive(Debug)]
struct Rejected;

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rejected")
    }
}

/// How many handlers are running now, the most seen at once, how many
/// finished.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
    finished: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) -> usize {
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.finished.fetch_add(1, Ordering::SeqCst) + 1
    }
}

/// A channel with prefetch `prefetch`, wrapped with the broker's address.
async fn traced_channel(conn: &lapin::Connection, prefetch: u16) -> TracedChannel {
    let server = ServerAddress::from_uri(&peers::amqp_url()).expect("AMQP URL parses");
    let channel = TracedChannel::new(conn.create_channel().await.expect("channel"), server);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .expect("basic.qos");
    assert_eq!(channel.prefetch(), Some(prefetch));
    channel
}

/// Cancels consumer `tag` on `channel` once `done` is notified, so that
/// `consume` returns.
fn cancel_when(channel: Channel, tag: &'static str, done: Arc<Notify>) {
    tokio::spawn(async move {
        done.notified().await;
        channel
            .basic_cancel(tag.into(), BasicCancelOptions::default())
            .await
            .expect("basic.cancel");
    });
}

#[test]
fn prefetch_8_runs_8_handlers_at_once_and_the_broker_loses_nothing() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let _ = telemetry();
    let rt = common::runtime();
    let queue = common::unique("prefetch8");
    let total = 24usize;
    let conn = rt.block_on(common::connect());
    let publisher = rt.block_on(conn.create_channel()).expect("channel");
    let dlq = rt.block_on(common::declare_with_dead_letters(&publisher, &queue));
    // Every sixth message is rejected by its handler: dead-lettered.
    let bodies: Vec<String> = (0..total)
        .map(|i| if i % 6 == 5 { "reject" } else { "ok" }.to_owned())
        .collect();
    let rejected = bodies.iter().filter(|b| *b == "reject").count() as u64;
    rt.block_on(common::publish(&publisher, &queue, &bodies));

    let in_flight = Arc::new(InFlight::default());
    // Only 8 handlers in flight at the same time pass it.
    let barrier = Arc::new(Barrier::new(8));
    let done = Arc::new(Notify::new());
    let result = rt.block_on(async {
        let channel = traced_channel(&conn, 8).await;
        let consumer: TracedConsumer = channel
            .basic_consume(
                queue.as_str().into(),
                "prefetch8".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume");
        cancel_when(channel.channel().clone(), "prefetch8", done.clone());
        let worker = Worker::new(&HANDLE, queue.as_str()).with_pipeline("lapin_concurrency");
        let consumed = worker.consume(consumer, |m: Message| {
            let (in_flight, barrier, done) = (in_flight.clone(), barrier.clone(), done.clone());
            async move {
                in_flight.enter();
                barrier.wait().await;
                if in_flight.leave() == total {
                    done.notify_one();
                }
                match m.data.as_slice() {
                    b"reject" => Err(Rejected),
                    _ => Ok(1u64),
                }
            }
        });
        let result = tokio::time::timeout(WATCHDOG, consumed).await;
        (result, channel)
    });
    let (result, channel) = result;
    result
        .unwrap_or_else(|_| {
            panic!(
                "watchdog: {} of {total} handled, at most {} at once: the barrier of 8 needs 8 at once",
                in_flight.finished.load(Ordering::SeqCst),
                in_flight.max.load(Ordering::SeqCst)
            )
        })
        .expect("consume ended cleanly");
    assert_eq!(in_flight.finished.load(Ordering::SeqCst), total);
    assert_eq!(
        in_flight.max.load(Ordering::SeqCst),
        8,
        "never more than the prefetch at once"
    );

    // The broker's view: every delivery settled once, the rejected ones
    // dead-lettered, nothing left unacknowledged.
    assert_eq!(common::broker_counts_become(&queue, (0, 0)), Some((0, 0)));
    assert_eq!(
        common::broker_counts_become(&dlq, (rejected, 0)),
        Some((rejected, 0))
    );
    // A second settlement of a delivery tag is a channel error
    // (PRECONDITION_FAILED): the channel would be closed.
    assert!(channel.status().connected(), "{:?}", channel.status());
    rt.block_on(async {
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("the consuming channel is still open");
        common::delete(&publisher, &queue).await;
        common::delete(&publisher, &dlq).await;
        let _ = conn.close(200, "done".into()).await;
    });
}

#[test]
fn with_concurrency_bounds_the_handlers_below_the_prefetch() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let _ = telemetry();
    let rt = common::runtime();
    let queue = common::unique("concurrency2");
    let total = 8usize;
    let conn = rt.block_on(common::connect());
    let publisher = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(common::declare(&publisher, &queue));
    let bodies: Vec<String> = (0..total).map(|i| i.to_string()).collect();
    rt.block_on(common::publish(&publisher, &queue, &bodies));

    let in_flight = Arc::new(InFlight::default());
    let barrier = Arc::new(Barrier::new(2));
    let done = Arc::new(Notify::new());
    let result = rt.block_on(async {
        let channel = traced_channel(&conn, 8).await;
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "concurrency2".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume");
        cancel_when(channel.channel().clone(), "concurrency2", done.clone());
        let worker = Worker::new(&HANDLE, queue.as_str())
            .with_pipeline("lapin_concurrency")
            .with_concurrency(2);
        let consumed = worker.consume(consumer, |_m: Message| {
            let (in_flight, barrier, done) = (in_flight.clone(), barrier.clone(), done.clone());
            async move {
                in_flight.enter();
                barrier.wait().await;
                // Give the worker every chance to start a third.
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                if in_flight.leave() == total {
                    done.notify_one();
                }
                Ok::<_, Rejected>(())
            }
        });
        tokio::time::timeout(WATCHDOG, consumed).await
    });
    result
        .expect("watchdog: the barrier of 2 needs 2 at once")
        .expect("consume ended cleanly");
    assert_eq!(in_flight.finished.load(Ordering::SeqCst), total);
    assert_eq!(in_flight.max.load(Ordering::SeqCst), 2);
    assert_eq!(common::broker_counts_become(&queue, (0, 0)), Some((0, 0)));
    rt.block_on(async {
        common::delete(&publisher, &queue).await;
        let _ = conn.close(200, "done".into()).await;
    });
}

#[test]
fn each_delivery_is_acked_as_its_handler_completes() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let _ = telemetry();
    let rt = common::runtime();
    let queue = common::unique("ack_each");
    let conn = rt.block_on(common::connect());
    let publisher = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(common::declare(&publisher, &queue));
    let mut bodies: Vec<String> = vec!["hold".to_owned()];
    bodies.extend((1..8).map(|i| i.to_string()));
    rt.block_on(common::publish(&publisher, &queue, &bodies));

    let release = Arc::new(Notify::new());
    let finished = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let channel = rt.block_on(traced_channel(&conn, 8));
    let consumer = rt
        .block_on(channel.basic_consume(
            queue.as_str().into(),
            "ack_each".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .expect("basic.consume");
    let worker = Worker::new(&HANDLE, queue.as_str()).with_pipeline("lapin_concurrency");
    let handler = {
        let (release, finished, done) = (release.clone(), finished.clone(), done.clone());
        move |m: Message| {
            let (release, finished, done) = (release.clone(), finished.clone(), done.clone());
            async move {
                if m.data == b"hold" {
                    release.notified().await;
                }
                if finished.fetch_add(1, Ordering::SeqCst) + 1 == 8 {
                    done.notify_one();
                }
                Ok::<_, Rejected>(())
            }
        }
    };
    let consuming = rt.spawn({
        let channel = channel.channel().clone();
        let done = done.clone();
        async move {
            cancel_when(channel, "ack_each", done);
            tokio::time::timeout(WATCHDOG, worker.consume(consumer, handler)).await
        }
    });
    // While the first delivery is held in its handler, the broker sees the
    // seven others acknowledged: one unacknowledged, none ready.
    let while_held = common::broker_counts_become(&queue, (0, 1));
    release.notify_one();
    let result = rt.block_on(consuming).expect("consume task");
    assert_eq!(
        while_held,
        Some((0, 1)),
        "(ready, unacked) while one handler runs"
    );
    result
        .expect("watchdog: every delivery handled")
        .expect("consume ended cleanly");
    assert_eq!(common::broker_counts_become(&queue, (0, 0)), Some((0, 0)));
    rt.block_on(async {
        common::delete(&publisher, &queue).await;
        let _ = conn.close(200, "done".into()).await;
    });
}

#[test]
fn a_plain_consumer_is_handled_one_at_a_time_unless_told() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let _ = telemetry();
    let rt = common::runtime();
    let queue = common::unique("plain");
    let total = 4usize;
    let conn = rt.block_on(common::connect());
    let channel = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(common::declare(&channel, &queue));
    let bodies: Vec<String> = (0..total).map(|i| i.to_string()).collect();
    rt.block_on(common::publish(&channel, &queue, &bodies));
    rt.block_on(channel.basic_qos(8, BasicQosOptions::default()))
        .expect("basic.qos");

    let in_flight = Arc::new(InFlight::default());
    let done = Arc::new(Notify::new());
    let result = rt.block_on(async {
        // A lapin Consumer does not say which channel (prefetch) it has.
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "plain".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume");
        cancel_when(channel.clone(), "plain", done.clone());
        let worker = Worker::new(&HANDLE, queue.as_str()).with_pipeline("lapin_concurrency");
        let consumed = worker.consume(consumer, |_m: Message| {
            let (in_flight, done) = (in_flight.clone(), done.clone());
            async move {
                in_flight.enter();
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                if in_flight.leave() == total {
                    done.notify_one();
                }
                Ok::<_, Rejected>(())
            }
        });
        tokio::time::timeout(WATCHDOG, consumed).await
    });
    result
        .expect("watchdog: every delivery handled")
        .expect("consume ended cleanly");
    assert_eq!(in_flight.max.load(Ordering::SeqCst), 1);
    assert_eq!(common::broker_counts_become(&queue, (0, 0)), Some((0, 0)));
    rt.block_on(async {
        common::delete(&channel, &queue).await;
        let _ = conn.close(200, "done".into()).await;
    });
}
