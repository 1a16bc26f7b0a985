//! Hostile headers (non-UTF-8, huge, wrong types) and handlers that fail or
//! panic, driven by lapin's own delivery loop (`Consumer::set_delegate`):
//! nothing panics out of the worker, hostile headers start a fresh run,
//! failed deliveries are nacked (the broker dead-letters them) and counted
//! once in `pipeline.errors` on the wire.

mod common;

use std::time::Duration;

use lapin::message::DeliveryResult;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, ByteArray, FieldArray, FieldTable, LongString};
use lapin::BasicProperties;
use pipeline_telemetry::{MetricsTarget, PipelineRun, Stage};
use pipeline_telemetry_lapin::{Message, Settlement, Worker};
use pipeline_telemetry_test_support::{peers, UdpReceiver};

static HANDLE: Stage = Stage::new("handle");

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

#[derive(Debug)]
struct BadInput;

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bad input")
    }
}

fn headers(pairs: Vec<(&str, AMQPValue)>) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in pairs {
        t.insert(k.into(), v);
    }
    t
}

fn long(s: impl Into<Vec<u8>>) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.into()))
}

/// (body, headers) of each message, in publish order.
fn messages() -> Vec<(&'static str, FieldTable)> {
    vec![
        (
            "ok",
            headers(vec![
                ("traceparent", long(vec![0xff, 0xfe, 0x00, b'-'])),
                ("baggage", long(vec![0xc3, 0x28])),
            ]),
        ),
        (
            "ok",
            headers(vec![
                ("traceparent", AMQPValue::LongInt(42)),
                (
                    "baggage",
                    AMQPValue::FieldArray(FieldArray::from(vec![long("pipeline_id=evil")])),
                ),
            ]),
        ),
        (
            "ok",
            headers(vec![
                ("traceparent", long("0".repeat(50_000))),
                (
                    "baggage",
                    long(format!("pipeline_id={}", "x".repeat(50_000))),
                ),
            ]),
        ),
        (
            "ok",
            headers(vec![
                (
                    "traceparent",
                    AMQPValue::FieldTable(headers(vec![("traceparent", long(TP))])),
                ),
                ("baggage", long("pipeline_id=42\n{\"status\":\"ok\"}")),
            ]),
        ),
        (
            "ok",
            headers(vec![
                (
                    "traceparent",
                    AMQPValue::ByteArray(ByteArray::from(vec![0xffu8; 55])),
                ),
                ("id", AMQPValue::Boolean(true)),
            ]),
        ),
        (
            "ok",
            headers(vec![
                ("TRACEPARENT", long(TP)),
                ("Baggage", long("pipeline_id=hostile-ok")),
            ]),
        ),
        ("error", FieldTable::default()),
        ("panic", FieldTable::default()),
        ("ok", FieldTable::default()),
    ]
}

#[test]
fn hostile_headers_and_panicking_handlers_never_escape() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let udp = UdpReceiver::bind().expect("udp receiver");
    let telemetry = common::telemetry("lapin-hostile", MetricsTarget::Udp(udp.addr()), None);
    let rt = common::runtime();
    let queue = common::unique("hostile");
    let dlq = format!("{queue}_dead");
    let conn = rt.block_on(common::connect());
    let channel = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(common::declare(&channel, &dlq));
    let args = headers(vec![
        ("x-dead-letter-exchange", long("")),
        ("x-dead-letter-routing-key", long(dlq.as_str())),
    ]);
    rt.block_on(channel.queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), args))
        .expect("declare with a dead-letter queue");

    let expected = messages();
    for (i, (body, h)) in expected.iter().enumerate() {
        rt.block_on(async {
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    BasicProperties::default()
                        .with_headers(h.clone())
                        .with_message_id(format!("{i}").into()),
                )
                .await
                .expect("publish")
                .await
                .expect("confirm")
        });
    }

    // lapin's delivery loop calls the delegate; the worker is inside it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let worker = Worker::new(&HANDLE, queue.as_str()).with_pipeline("lapin_hostile");
    let consumer = rt
        .block_on(channel.basic_consume(
            queue.as_str().into(),
            "hostile".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .expect("consume");
    consumer.set_delegate(move |delivery: DeliveryResult| {
        let worker = worker.clone();
        let tx = tx.clone();
        async move {
            let Ok(Some(delivery)) = delivery else { return };
            // lapin may run delegates concurrently: results are keyed by
            // the message id (its publish index).
            let index: usize = delivery
                .properties
                .message_id()
                .as_ref()
                .and_then(|id| id.as_str().parse().ok())
                .unwrap_or(usize::MAX);
            let (seen_tx, seen_rx) = std::sync::mpsc::channel();
            let settled = worker
                .handle(delivery, move |m: Message| async move {
                    let id = PipelineRun::current().map(|r| r.pipeline_id().to_owned());
                    let _ = seen_tx.send(id);
                    match m.data.as_slice() {
                        b"panic" => panic!("handler blew up"),
                        b"error" => Err(BadInput),
                        _ => Ok(1u64),
                    }
                })
                .await;
            let _ = tx.send((
                index,
                settled.map_err(|e| e.to_string()),
                seen_rx.try_recv().ok().flatten(),
            ));
        }
    });

    let mut results = vec![None; expected.len()];
    rt.block_on(async {
        for _ in 0..expected.len() {
            let (i, settled, id) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
                .await
                .expect("every delivery handled in time")
                .expect("delegate alive");
            results[i] = Some((settled, id));
        }
    });
    let results: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("each message handled once"))
        .collect();
    for (i, (settled, pipeline_id)) in results.iter().enumerate() {
        let settled = settled
            .as_ref()
            .unwrap_or_else(|e| panic!("delivery {i} settled: {e}"));
        let pipeline_id = pipeline_id
            .as_deref()
            .unwrap_or_else(|| panic!("delivery {i} ran in a run"));
        match expected[i].0 {
            "ok" => assert_eq!(settled, &Settlement::Acked { records: 1 }, "{i}"),
            "error" => assert!(
                matches!(
                    settled,
                    Settlement::Nacked {
                        requeue: false,
                        error_type: "BadInput"
                    }
                ),
                "{settled:?}"
            ),
            _ => assert_eq!(settled, &Settlement::Panicked),
        }
        if i == 5 {
            assert_eq!(
                pipeline_id, "hostile-ok",
                "names read without regard to case"
            );
        } else {
            assert!(
                !pipeline_id.contains("evil") && !pipeline_id.contains('x') && pipeline_id != "42",
                "{i}: {pipeline_id}"
            );
        }
    }

    // The broker's view: nothing left in the queue, the error and the
    // panic dead-lettered (nacked without requeue).
    let counts = common::wait_for(Duration::from_secs(10), || {
        Some((common::broker_counts(&queue)?, common::broker_counts(&dlq)?))
            .filter(|(_, d)| d.0 == 2)
    });
    assert_eq!(
        counts,
        Some(((0, 0), (2, 0))),
        "(queue, dead-letter queue) (ready, unacked)"
    );

    // Counted once each on the wire, with the stage named by the worker.
    let has = |lines: &[String], error_type: &str| {
        lines.iter().any(|l| {
            l.starts_with("pipeline.errors:1|c|#")
                && l.contains("pipeline:lapin_hostile")
                && l.contains("stage:handle")
                && l.contains(&format!("error_type:{error_type}"))
        })
    };
    let lines = udp.lines_until(Duration::from_secs(10), |l| {
        has(l, "panic") && has(l, "BadInput")
    });
    assert!(
        has(&lines, "panic") && has(&lines, "BadInput"),
        "{lines:#?}"
    );
    let errors: usize = lines
        .iter()
        .filter(|l| l.starts_with("pipeline.errors:") && l.contains("pipeline:lapin_hostile"))
        .map(|l| {
            l["pipeline.errors:".len()..]
                .split('|')
                .next()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        errors, 2,
        "one error per failed delivery, no second count: {lines:#?}"
    );

    rt.block_on(common::delete(&channel, &queue));
    rt.block_on(common::delete(&channel, &dlq));
    let _ = rt.block_on(conn.close(200, "done".into()));
    drop(telemetry);
}
