//! A worker called where a run is current (`run.scope(worker.consume(..))`,
//! `run.scope(worker.handle(..))`) makes each delivery a stage call of that
//! run: its stage and records are counted under the current run's
//! pipeline (not the worker's `with_pipeline`, no part of the producer's
//! run), its `rabbitmq.process` span is a child of the current run's span,
//! and the producer's span is a span link. Checked through the real
//! broker, on a real UDP socket (DogStatsD) and in the spans Datadog's APM
//! test agent received.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use pipeline_telemetry::testing::{parse_line, ParsedMetric};
use pipeline_telemetry::{MetricsTarget, PipelineRun, Stage};
use pipeline_telemetry_lapin::{Message, ServerAddress, Settlement, TracedChannel, Worker};
use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::{peers, UdpReceiver};
use serde_json::Value;
use tokio::sync::Notify;

static HANDLE: Stage = Stage::new("handle");

const PRODUCER: &str = "lapin_current_producer";
const CONSUMER: &str = "lapin_current_consumer";
/// What the worker is told with `with_pipeline`: not used in a current run.
const WORKER_PIPELINE: &str = "lapin_current_worker";
/// Deliveries through `consume`, then one more through `handle`.
const CONSUMED: usize = 3;
const ROWS_PER_MESSAGE: usize = 2;
/// A watchdog against a hang, not a measure of speed.
const WATCHDOG: Duration = Duration::from_secs(60);

/// How many values of `name` have all the tags `tags`.
fn count(m: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> usize {
    m.iter()
        .filter(|p| p.name == name && tags.iter().all(|(k, v)| p.tag(k) == Some(*v)))
        .map(|p| p.values.len())
        .sum()
}

/// The sum of the values of `name` with all the tags `tags`.
fn sum(m: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> f64 {
    m.iter()
        .filter(|p| p.name == name && tags.iter().all(|(k, v)| p.tag(k) == Some(*v)))
        .flat_map(|p| p.values.iter())
        .sum()
}

/// The (trace id, span id) of each link of each span, by span id, from the
/// raw OTLP JSON payloads.
fn links(payloads: &[Value]) -> HashMap<String, Vec<(String, String)>> {
    let mut out = HashMap::new();
    for p in payloads {
        for rs in p["resource_spans"].as_array().into_iter().flatten() {
            for ss in rs["scope_spans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let id = s["span_id"]
                        .as_str()
                        .map(agent::b64_hex)
                        .unwrap_or_default();
                    let l: Vec<(String, String)> = s["links"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| {
                            Some((
                                agent::b64_hex(l["trace_id"].as_str()?),
                                agent::b64_hex(l["span_id"].as_str()?),
                            ))
                        })
                        .collect();
                    out.insert(id, l);
                }
            }
        }
    }
    out
}

/// A handler that counts the rows (lines) of the body.
async fn rows(m: Message) -> Result<usize, std::io::Error> {
    Ok(String::from_utf8_lossy(&m.data).lines().count())
}

#[test]
fn deliveries_are_stage_calls_of_the_current_run() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let udp = UdpReceiver::bind().expect("udp receiver");
    let token = agent::token("lapin-current");
    let telemetry = common::telemetry(
        "lapin-current",
        MetricsTarget::Udp(udp.addr()),
        Some(&token),
    );
    let rt = common::runtime();
    let consumed_queue = common::unique("current_consume");
    let handled_queue = common::unique("current_handle");
    let producer_id = format!("producer-{}", std::process::id());
    let consumer_id = format!("consumer-{}", std::process::id());
    let conn = rt.block_on(common::connect());
    let server = ServerAddress::from_uri(&peers::amqp_url()).expect("AMQP URL parses");
    let channel = TracedChannel::new(rt.block_on(conn.create_channel()).expect("channel"), server);
    let body = "row 1\nrow 2\n";
    rt.block_on(async {
        common::declare(&channel, &consumed_queue).await;
        common::declare(&channel, &handled_queue).await;
        // The producer's run publishes; its context is in the headers.
        common::publish_run(
            &channel,
            PRODUCER,
            &producer_id,
            &[(&consumed_queue, CONSUMED), (&handled_queue, 1)],
            body.as_bytes(),
        )
        .await;
    });

    // The consumer's own run, current where the worker is called.
    let run = PipelineRun::start(CONSUMER, &consumer_id);
    let worker = Worker::new(&HANDLE, consumed_queue.as_str()).with_pipeline(WORKER_PIPELINE);
    let handled = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    rt.block_on(async {
        channel
            .basic_qos(2, BasicQosOptions::default())
            .await
            .expect("basic.qos");
        let consumer = channel
            .basic_consume(
                consumed_queue.as_str().into(),
                "current_c".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume");
        let cancel = {
            let (channel, done) = (channel.channel().clone(), done.clone());
            tokio::spawn(async move {
                done.notified().await;
                channel
                    .basic_cancel("current_c".into(), BasicCancelOptions::default())
                    .await
                    .expect("basic.cancel");
            })
        };
        let consumed = run.scope(worker.consume(consumer, |m: Message| {
            let (handled, done) = (handled.clone(), done.clone());
            async move {
                let n = rows(m).await;
                if handled.fetch_add(1, Ordering::SeqCst) + 1 == CONSUMED {
                    done.notify_one();
                }
                n
            }
        }));
        tokio::time::timeout(WATCHDOG, consumed)
            .await
            .expect("watchdog: every delivery consumed")
            .expect("consume ended cleanly");
        cancel.await.expect("cancel task");

        // One delivery through `handle`, in the same run.
        let mut consumer = channel
            .basic_consume(
                handled_queue.as_str().into(),
                "current_h".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("basic.consume")
            .into_inner();
        let delivery = tokio::time::timeout(WATCHDOG, consumer.next())
            .await
            .expect("a delivery within the watchdog")
            .expect("consumer open")
            .expect("delivery");
        let by_hand = Worker::new(&HANDLE, handled_queue.as_str()).with_run_per_delivery("unused");
        let settled = run
            .scope(by_hand.handle(delivery, rows))
            .await
            .expect("settled");
        assert_eq!(
            settled,
            Settlement::Acked {
                records: ROWS_PER_MESSAGE as u64
            }
        );
        common::delete(&channel, &consumed_queue).await;
        common::delete(&channel, &handled_queue).await;
        let _ = conn.close(200, "done".into()).await;
    });
    let consumer_run_span = run.span().id();
    assert!(consumer_run_span.is_some(), "the run's span is recorded");
    run.finish();
    drop(rt);
    drop(telemetry);

    // Metrics: on the wire, as the exporter sent them.
    let lines = udp.drain_lines(Duration::from_millis(200));
    let m: Vec<ParsedMetric> = lines
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with("datadog."))
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let all = CONSUMED + 1;
    let stage = [("pipeline", CONSUMER), ("stage", "handle")];
    assert_eq!(
        count(&m, "pipeline.stage.duration", &stage),
        all,
        "each delivery is a stage call of the current run: {lines:#?}"
    );
    assert_eq!(
        sum(&m, "pipeline.records", &stage),
        (all * ROWS_PER_MESSAGE) as f64,
        "{lines:#?}"
    );
    // One run: the consumer's own; the deliveries are neither parts nor runs.
    assert_eq!(sum(&m, "pipeline.runs", &[("pipeline", CONSUMER)]), 1.0);
    assert_eq!(count(&m, "prefect.flow.duration", &[("flow", CONSUMER)]), 1);
    for other in [WORKER_PIPELINE, "unused"] {
        assert!(
            !m.iter()
                .any(|p| p.tag("pipeline") == Some(other) || p.tag("flow") == Some(other)),
            "nothing is counted under {other}: {lines:#?}"
        );
    }

    // Spans: the CONSUMER spans are children of the consumer's run span,
    // in its trace, each linked to the producer's span.
    let names: HashSet<String> = [&consumed_queue, &handled_queue]
        .iter()
        .map(|q| format!("process {q}"))
        .collect();
    let payloads = agent::poll("traces", &token, |p| {
        agent::spans(p)
            .iter()
            .filter(|s| names.contains(&s.name))
            .count()
            >= all
    });
    let spans = agent::spans(&payloads);
    let links = links(&payloads);
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let run_span = |pipeline: &str| {
        spans
            .iter()
            .find(|s| {
                s.name == "pipeline.run"
                    && s.attributes.get("pipeline").map(String::as_str) == Some(pipeline)
            })
            .unwrap_or_else(|| panic!("the {pipeline} run span: {spans:#?}"))
    };
    let producer_run = run_span(PRODUCER);
    let consumer_run = run_span(CONSUMER);
    assert_ne!(producer_run.trace_id, consumer_run.trace_id);
    assert!(
        !spans.iter().any(|s| s.name == "pipeline.run"
            && s.attributes.get("pipeline").map(String::as_str) != Some(PRODUCER)
            && s.attributes.get("pipeline").map(String::as_str) != Some(CONSUMER)),
        "no run or part per delivery: {spans:#?}"
    );
    let consumers: Vec<&Span> = spans.iter().filter(|s| names.contains(&s.name)).collect();
    assert_eq!(consumers.len(), all, "{spans:#?}");
    for c in &consumers {
        assert_eq!(c.trace_id, consumer_run.trace_id, "{c:#?}");
        assert_eq!(
            c.parent_span_id.as_deref(),
            Some(consumer_run.span_id.as_str()),
            "{c:#?}"
        );
        assert_eq!(c.attributes["pipeline_id"], consumer_id);
        let linked = links.get(&c.span_id).cloned().unwrap_or_default();
        assert_eq!(linked.len(), 1, "one link, to the producer: {c:#?}");
        let (trace, span) = &linked[0];
        assert_eq!(trace, &producer_run.trace_id);
        let publish = by_id.get(span.as_str()).unwrap_or_else(|| panic!("{span}"));
        assert!(publish.name.starts_with("publish "), "{publish:#?}");
        // The handler's stage span is under the CONSUMER span.
        let stages: Vec<&&Span> = by_id
            .values()
            .filter(|s| {
                s.name == "pipeline.stage"
                    && s.parent_span_id.as_deref() == Some(c.span_id.as_str())
            })
            .collect();
        assert_eq!(stages.len(), 1, "{spans:#?}");
        assert_eq!(stages[0].attributes["pipeline"], CONSUMER);
        assert_eq!(stages[0].attributes["stage"], "handle");
    }
}
