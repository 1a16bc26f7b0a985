//! `rabbitmq.queue.length` on a real UDP socket equals what the broker
//! itself (`rabbitmqctl`) reports as ready, with messages held unacked;
//! the collector goes on after the queue is deleted and re-created and
//! after the broker closes its connection.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use pipeline_telemetry::MetricsTarget;
use pipeline_telemetry_lapin::{QueueLengthCollector, CONNECTION_NAME};
use pipeline_telemetry_test_support::{peers, UdpReceiver};

async fn publish(channel: &Channel, queue: &str, n: u32) {
    for i in 0..n {
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                format!("m{i}").as_bytes(),
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }
}

/// The last `rabbitmq.queue.length` value for `queue` seen on the wire
/// until it equals `want` (or 15 s pass).
fn gauge_on_wire(udp: &UdpReceiver, queue: &str, want: u64) -> Option<u64> {
    let tags = format!("queue:{queue},rabbitmq_queue:{queue},rabbitmq_vhost:/");
    let value = |lines: &[String]| {
        lines.iter().rev().find_map(|l| {
            let (head, rest) = l.split_once("|g|#")?;
            let v = head.strip_prefix("rabbitmq.queue.length:")?;
            rest.contains(&tags).then(|| v.parse::<u64>().ok())?
        })
    };
    let lines = udp.lines_until(Duration::from_secs(15), |l| value(l) == Some(want));
    value(&lines)
}

/// Closes the collector's connection from the broker's side.
fn close_collector_connection() {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl list_connections");
    let text = String::from_utf8_lossy(&out.stdout);
    let pids: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(CONNECTION_NAME))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        !pids.is_empty(),
        "the collector's connection is listed: {text}"
    );
    for pid in pids {
        let st = std::process::Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "closed by the test"])
            .status()
            .expect("rabbitmqctl close_connection");
        assert!(st.success());
    }
}

#[test]
fn queue_length_matches_the_broker_and_survives_delete_and_disconnect() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let udp = UdpReceiver::bind().expect("udp receiver");
    let telemetry = common::telemetry("lapin-queue-length", MetricsTarget::Udp(udp.addr()), None);
    let rt = common::runtime();
    let queue = common::unique("qlen");

    let conn = rt.block_on(common::connect());
    let channel = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(common::declare(&channel, &queue));
    rt.block_on(publish(&channel, &queue, 10));

    // Hold 3 messages unacknowledged: they are not "ready".
    let consumer_channel = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(consumer_channel.basic_qos(3, BasicQosOptions::default()))
        .expect("qos");
    let mut consumer = rt
        .block_on(consumer_channel.basic_consume(
            queue.as_str().into(),
            "holder".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .expect("consume");
    let mut held = Vec::new();
    for _ in 0..3 {
        let d = rt
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(10), consumer.next()).await
            })
            .expect("delivery in time")
            .expect("consumer open")
            .expect("delivery");
        held.push(d);
    }
    let (ready, unacked) = common::wait_for(Duration::from_secs(10), || {
        common::broker_counts(&queue).filter(|&(_, u)| u == 3)
    })
    .expect("the broker reports 3 unacked");
    assert_eq!((ready, unacked), (7, 3));

    let collector = {
        let _rt = rt.enter();
        QueueLengthCollector::new(peers::amqp_url())
            .with_queue(queue.as_str())
            .with_interval(Duration::from_millis(300))
            .start()
            .expect("collector starts")
    };
    assert_eq!(
        gauge_on_wire(&udp, &queue, ready),
        Some(ready),
        "gauge = broker's ready count"
    );

    // The queue disappears: the passive declare fails, the broker closes
    // the collector's channel; the collector keeps going.
    drop(held);
    rt.block_on(common::delete(&channel, &queue));
    let failures = common::wait_for(Duration::from_secs(10), || {
        Some(collector.stats()).filter(|s| s.failures >= 2)
    })
    .expect("missing queue counted at each poll");
    assert_eq!(
        failures.connections, 1,
        "a missing queue closes the channel, not the connection"
    );

    rt.block_on(common::declare(&channel, &queue));
    rt.block_on(publish(&channel, &queue, 4));
    let (ready, _) = common::wait_for(Duration::from_secs(10), || common::broker_counts(&queue))
        .expect("queue listed");
    assert_eq!(ready, 4);
    assert_eq!(
        gauge_on_wire(&udp, &queue, 4),
        Some(4),
        "back after re-create"
    );
    assert!(
        collector.stats().channels >= 2,
        "channel reopened: {:?}",
        collector.stats()
    );

    // The broker closes the collector's connection.
    close_collector_connection();
    rt.block_on(publish(&channel, &queue, 2));
    assert_eq!(common::broker_counts(&queue).map(|c| c.0), Some(6));
    assert_eq!(
        gauge_on_wire(&udp, &queue, 6),
        Some(6),
        "back after reconnect"
    );
    assert!(
        collector.stats().connections >= 2,
        "{:?}",
        collector.stats()
    );

    rt.block_on(collector.stop());
    rt.block_on(common::delete(&channel, &queue));
    let _ = rt.block_on(conn.close(200, "done".into()));
    drop(telemetry);
}

#[test]
fn an_unreachable_broker_is_retried_and_never_stops_the_collector() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let rt = common::runtime();
    let collector = {
        let _rt = rt.enter();
        QueueLengthCollector::new(format!("amqp://guest:guest@127.0.0.1:{port}/%2f"))
            .with_queue("anything")
            .with_interval(Duration::from_millis(100))
            .start()
            .expect("starts even though the broker is down")
    };
    let stats = common::wait_for(Duration::from_secs(10), || {
        Some(collector.stats()).filter(|s| s.failures >= 3)
    })
    .expect("each poll fails and is counted, and polling goes on");
    assert_eq!((stats.polls, stats.connections), (0, 0));
    rt.block_on(collector.stop());

    assert!(matches!(
        QueueLengthCollector::new("amqp://127.0.0.1/%2f")
            .with_queue("q")
            .start(),
        Err(pipeline_telemetry_lapin::CollectorError::NoRuntime(_))
    ));
    let _rt = rt.enter();
    assert!(matches!(
        QueueLengthCollector::new("not a uri")
            .with_queue("q")
            .start(),
        Err(pipeline_telemetry_lapin::CollectorError::InvalidUri(_))
    ));
    assert!(matches!(
        QueueLengthCollector::new("amqp://127.0.0.1/%2f").start(),
        Err(pipeline_telemetry_lapin::CollectorError::NoQueue)
    ));
}
