//! A plain lapin `Consumer` without `with_concurrency` is handled one
//! delivery at a time: the worker says so in one warning, once per worker
//! (and its clones), and not when it knows how many (a `TracedConsumer`
//! with a prefetch, or `with_concurrency`). Through the real broker, the
//! warning read back from a `fmt` subscriber's output.

mod common;

use std::sync::Arc;
use std::time::Duration;

use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Channel;
use pipeline_telemetry::Stage;
use pipeline_telemetry_lapin::{Message, ServerAddress, TracedChannel, TracedConsumer, Worker};
use pipeline_telemetry_test_support::capture::Captured;
use pipeline_telemetry_test_support::peers;
use tokio::sync::Notify;

static HANDLE: Stage = Stage::new("handle");

/// A watchdog against a hang, not a measure of speed.
const WATCHDOG: Duration = Duration::from_secs(60);

const WARNING: &str = "one delivery at a time";

/// Publishes one message to `queue` and lets `worker` consume it from
/// `consumer` (tag `tag`) until that message is handled.
async fn consume_one<C: Into<TracedConsumer>>(
    channel: &Channel,
    queue: &str,
    tag: &str,
    consumer: C,
    worker: &Worker,
) {
    common::publish(channel, queue, &["row".to_owned()]).await;
    let done = Arc::new(Notify::new());
    let cancel = {
        let (channel, done, tag) = (channel.clone(), done.clone(), tag.to_owned());
        tokio::spawn(async move {
            done.notified().await;
            channel
                .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                .await
                .expect("basic.cancel");
        })
    };
    let consumed = worker.consume(consumer, |_m: Message| {
        let done = done.clone();
        async move {
            done.notify_one();
            Ok::<_, std::io::Error>(1usize)
        }
    });
    tokio::time::timeout(WATCHDOG, consumed)
        .await
        .expect("watchdog: the delivery handled")
        .expect("consume ended cleanly");
    cancel.await.expect("cancel task");
}

async fn plain(channel: &Channel, queue: &str, tag: &str) -> lapin::Consumer {
    channel
        .basic_consume(
            queue.into(),
            tag.into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume")
}

/// How many warnings name `queue`.
fn warnings_for(captured: &Captured, queue: &str) -> usize {
    captured
        .text()
        .lines()
        .filter(|l| l.contains(WARNING) && l.contains(queue))
        .count()
}

#[test]
fn a_plain_consumer_warns_once_per_worker() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let captured = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish(),
    )
    .expect("the only subscriber of this test binary");
    let rt = common::runtime();
    let warned = common::unique("warned");
    let told = common::unique("told");
    let traced = common::unique("traced");
    rt.block_on(async {
        let conn = common::connect().await;
        let channel = conn.create_channel().await.expect("channel");
        for q in [&warned, &told, &traced] {
            common::declare(&channel, q).await;
        }

        // A plain consumer, twice by the same worker, once by a clone: one
        // warning.
        let worker = Worker::new(&HANDLE, warned.as_str());
        for (i, w) in [worker.clone(), worker.clone(), worker].iter().enumerate() {
            let tag = format!("warned_{i}");
            let consumer = plain(&channel, &warned, &tag).await;
            consume_one(&channel, &warned, &tag, consumer, w).await;
        }
        assert_eq!(warnings_for(&captured, &warned), 1, "{}", captured.text());

        // Told how many: no warning.
        let worker = Worker::new(&HANDLE, told.as_str()).with_concurrency(4);
        let consumer = plain(&channel, &told, "told").await;
        consume_one(&channel, &told, "told", consumer, &worker).await;
        assert_eq!(warnings_for(&captured, &told), 0, "{}", captured.text());

        // A TracedConsumer whose channel has a prefetch: no warning.
        let server = ServerAddress::from_uri(&peers::amqp_url()).expect("AMQP URL parses");
        let traced_channel =
            TracedChannel::new(conn.create_channel().await.expect("channel"), server);
        traced_channel
            .basic_qos(4, BasicQosOptions::default())
            .await
            .expect("basic.qos");
        let consumer = traced_channel
            .basic_consume(
                traced.as_str().into(),
                "traced".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume");
        let worker = Worker::new(&HANDLE, traced.as_str());
        consume_one(
            traced_channel.channel(),
            &traced,
            "traced",
            consumer,
            &worker,
        )
        .await;
        assert_eq!(warnings_for(&captured, &traced), 0, "{}", captured.text());

        for q in [&warned, &told, &traced] {
            common::delete(&channel, q).await;
        }
        let _ = conn.close(200, "done".into()).await;
    });
}
