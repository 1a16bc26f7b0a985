//! Not every delivery is a pipeline run: by default a `Worker`'s delivery
//! joins the producer's run (same trace, same `pipeline_id`, its stages
//! counted under the worker's pipeline) without a `pipeline.runs` point or
//! a `prefect.flow.duration` of its own; `with_run_per_delivery` makes each
//! delivery a run. Checked on the wire: the DogStatsD datagrams on a real
//! UDP socket and the spans Datadog's APM test agent received, through the
//! real broker.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use pipeline_telemetry::testing::{parse_line, ParsedMetric};
use pipeline_telemetry::{MetricsTarget, Stage};
use pipeline_telemetry_lapin::{Message, ServerAddress, Settlement, TracedChannel, Worker};
use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::{peers, UdpReceiver};

static HANDLE: Stage = Stage::new("handle");

const PRODUCER: &str = "lapin_join_producer";
const JOINED: &str = "lapin_join_worker";
const PER_DELIVERY: &str = "lapin_run_per_delivery";
const MESSAGES: usize = 3;

/// The sum of the values of `name` points whose tag `key` is `value`.
fn sum(m: &[ParsedMetric], name: &str, key: &str, value: &str) -> f64 {
    m.iter()
        .filter(|p| p.name == name && p.tag(key) == Some(value))
        .flat_map(|p| p.values.iter())
        .sum()
}

/// How many values of `name` have tag `key` = `value`.
fn count(m: &[ParsedMetric], name: &str, key: &str, value: &str) -> usize {
    m.iter()
        .filter(|p| p.name == name && p.tag(key) == Some(value))
        .map(|p| p.values.len())
        .sum()
}

/// Handles `MESSAGES` deliveries of `queue` with `worker`.
async fn handle_all(channel: &TracedChannel, queue: &str, worker: &Worker) {
    let mut consumer = channel
        .basic_consume(
            queue.into(),
            format!("{queue}_c").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("basic.consume")
        .into_inner();
    for _ in 0..MESSAGES {
        let delivery = tokio::time::timeout(Duration::from_secs(20), consumer.next())
            .await
            .expect("a delivery within 20 s")
            .expect("consumer open")
            .expect("delivery");
        let settled = worker
            .handle(delivery, |m: Message| async move {
                Ok::<_, std::io::Error>(m.data.len() as u64)
            })
            .await
            .expect("settled");
        assert_eq!(settled, Settlement::Acked { records: 2 });
    }
}

#[test]
fn a_delivery_joins_the_producers_run_without_counting_a_run() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let udp = UdpReceiver::bind().expect("udp receiver");
    let token = agent::token("lapin-join");
    let telemetry = common::telemetry("lapin-join", MetricsTarget::Udp(udp.addr()), Some(&token));
    let rt = common::runtime();
    let joined_queue = common::unique("joined");
    let per_delivery_queue = common::unique("per_delivery");
    let pipeline_id = format!("join-{}", std::process::id());
    let conn = rt.block_on(common::connect());
    let server = ServerAddress::from_uri(&peers::amqp_url()).expect("AMQP URL parses");
    let channel = TracedChannel::new(rt.block_on(conn.create_channel()).expect("channel"), server);
    rt.block_on(async {
        common::declare(&channel, &joined_queue).await;
        common::declare(&channel, &per_delivery_queue).await;
        // One producer run publishes to both queues.
        common::publish_run(
            &channel,
            PRODUCER,
            &pipeline_id,
            &[(&joined_queue, MESSAGES), (&per_delivery_queue, MESSAGES)],
            b"ab",
        )
        .await;

        let joined = Worker::new(&HANDLE, joined_queue.as_str()).with_pipeline(JOINED);
        handle_all(&channel, &joined_queue, &joined).await;
        let per_delivery =
            Worker::new(&HANDLE, per_delivery_queue.as_str()).with_run_per_delivery(PER_DELIVERY);
        handle_all(&channel, &per_delivery_queue, &per_delivery).await;
        common::delete(&channel, &joined_queue).await;
        common::delete(&channel, &per_delivery_queue).await;
        let _ = conn.close(200, "done".into()).await;
    });
    drop(rt);
    drop(telemetry);

    // The exporter has shut down: everything it sent is in the socket.
    let lines = udp.drain_lines(Duration::from_millis(200));
    let m: Vec<ParsedMetric> = lines
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with("datadog."))
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    // One run: the producer's. The joined deliveries count none.
    assert_eq!(sum(&m, "pipeline.runs", "pipeline", PRODUCER), 1.0);
    assert_eq!(
        sum(&m, "pipeline.runs", "pipeline", JOINED),
        0.0,
        "a joined delivery is not a run: {lines:#?}"
    );
    assert_eq!(count(&m, "prefect.flow.duration", "flow", JOINED), 0);
    // ... but its stage is counted, under the worker's pipeline.
    let handled = m
        .iter()
        .filter(|p| {
            p.name == "pipeline.stage.duration"
                && p.tag("pipeline") == Some(JOINED)
                && p.tag("stage") == Some("handle")
        })
        .map(|p| p.values.len())
        .sum::<usize>();
    assert_eq!(handled, MESSAGES, "{lines:#?}");
    assert_eq!(
        sum(&m, "pipeline.records", "pipeline", JOINED),
        (2 * MESSAGES) as f64
    );
    // With `with_run_per_delivery`, each delivery is a run.
    assert_eq!(
        sum(&m, "pipeline.runs", "pipeline", PER_DELIVERY),
        MESSAGES as f64
    );
    assert_eq!(
        count(&m, "prefect.flow.duration", "flow", PER_DELIVERY),
        MESSAGES
    );

    // The joined deliveries are still in the producer's trace, under its
    // `pipeline_id`.
    let process = format!("process {joined_queue}");
    let spans = agent::poll_spans(&token, |s| {
        s.iter().filter(|s| s.name == process).count() >= MESSAGES
    });
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let producer_run = spans
        .iter()
        .find(|s| {
            s.name == "pipeline.run"
                && s.attributes.get("pipeline").map(String::as_str) == Some(PRODUCER)
        })
        .unwrap_or_else(|| panic!("the producer's run span: {spans:#?}"));
    let consumers: Vec<&Span> = spans.iter().filter(|s| s.name == process).collect();
    assert_eq!(consumers.len(), MESSAGES, "{spans:#?}");
    for c in &consumers {
        assert_eq!(c.trace_id, producer_run.trace_id, "one trace: {c:#?}");
        assert_eq!(c.attributes["pipeline_id"], pipeline_id);
        let parent = c.parent_span_id.as_deref().and_then(|id| by_id.get(id));
        assert!(
            parent.is_some_and(|p| p.name == format!("publish {joined_queue}")),
            "{c:#?}"
        );
    }
    let parts: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.name == "pipeline.run"
                && s.attributes.get("pipeline").map(String::as_str) == Some(JOINED)
        })
        .collect();
    assert_eq!(parts.len(), MESSAGES, "{spans:#?}");
    for p in &parts {
        assert_eq!(p.trace_id, producer_run.trace_id);
        assert_eq!(p.attributes["pipeline_id"], pipeline_id);
    }
}
