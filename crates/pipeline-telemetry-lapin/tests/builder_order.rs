//! `with_pipeline` and `with_run_per_delivery` are independent, in either
//! order: a later `with_pipeline` renames the pipeline and keeps one run
//! per delivery. Checked through the real broker, on a real UDP socket.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use pipeline_telemetry::testing::{parse_line, ParsedMetric};
use pipeline_telemetry::{MetricsTarget, Stage};
use pipeline_telemetry_lapin::{Message, Settlement, Worker};
use pipeline_telemetry_test_support::{peers, UdpReceiver};

static HANDLE: Stage = Stage::new("handle");

const MESSAGES: usize = 2;
/// `with_run_per_delivery(FIRST_A).with_pipeline(PIPELINE_A)`.
const FIRST_A: &str = "lapin_order_first_a";
const PIPELINE_A: &str = "lapin_order_a";
/// `with_pipeline(FIRST_B).with_run_per_delivery(PIPELINE_B)`.
const FIRST_B: &str = "lapin_order_first_b";
const PIPELINE_B: &str = "lapin_order_b";

/// The sum of the values of `name` points whose tag `key` is `value`.
fn sum(m: &[ParsedMetric], name: &str, key: &str, value: &str) -> f64 {
    m.iter()
        .filter(|p| p.name == name && p.tag(key) == Some(value))
        .flat_map(|p| p.values.iter())
        .sum()
}

/// Handles `MESSAGES` deliveries of `queue` with `worker`, where no run is
/// current.
async fn handle_all(channel: &lapin::Channel, queue: &str, worker: &Worker) {
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            format!("{queue}_c").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume");
    for _ in 0..MESSAGES {
        let delivery = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("a delivery within the watchdog")
            .expect("consumer open")
            .expect("delivery");
        let settled = worker
            .handle(delivery, |_m: Message| async move {
                Ok::<_, std::io::Error>(())
            })
            .await
            .expect("settled");
        assert_eq!(settled, Settlement::Acked { records: 0 });
    }
}

#[test]
fn with_pipeline_keeps_run_per_delivery_in_either_order() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let udp = UdpReceiver::bind().expect("udp receiver");
    let telemetry = common::telemetry("lapin-order", MetricsTarget::Udp(udp.addr()), None);
    let rt = common::runtime();
    let queue_a = common::unique("order_a");
    let queue_b = common::unique("order_b");
    rt.block_on(async {
        let conn = common::connect().await;
        let channel = conn.create_channel().await.expect("channel");
        common::declare(&channel, &queue_a).await;
        common::declare(&channel, &queue_b).await;
        common::publish_run(
            &channel,
            "lapin_order_producer",
            "order-1",
            &[(&queue_a, MESSAGES), (&queue_b, MESSAGES)],
            b"x",
        )
        .await;

        let a = Worker::new(&HANDLE, queue_a.as_str())
            .with_run_per_delivery(FIRST_A)
            .with_pipeline(PIPELINE_A);
        handle_all(&channel, &queue_a, &a).await;
        let b = Worker::new(&HANDLE, queue_b.as_str())
            .with_pipeline(FIRST_B)
            .with_run_per_delivery(PIPELINE_B);
        handle_all(&channel, &queue_b, &b).await;
        common::delete(&channel, &queue_a).await;
        common::delete(&channel, &queue_b).await;
        let _ = conn.close(200, "done".into()).await;
    });
    drop(rt);
    drop(telemetry);

    let lines = udp.drain_lines(Duration::from_millis(200));
    let m: Vec<ParsedMetric> = lines
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with("datadog."))
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    // Each delivery is a run of the pipeline named last, whatever the order.
    for pipeline in [PIPELINE_A, PIPELINE_B] {
        assert_eq!(
            sum(&m, "pipeline.runs", "pipeline", pipeline),
            MESSAGES as f64,
            "one run per delivery of {pipeline}: {lines:#?}"
        );
    }
    for first in [FIRST_A, FIRST_B] {
        assert!(
            !m.iter().any(|p| p.tag("pipeline") == Some(first)),
            "{first} was renamed: {lines:#?}"
        );
    }
}
