//! One failure, one count, with its own `error_type`, through a real
//! broker: a handler that passes on (`?`) the failure of a stage it called
//! is counted once, by that stage, with the stage's typed `error_type`
//! (the worker's stage records `status:error` without a second count); a
//! handler whose error implements `ErrorType` (`consume_typed`) is counted
//! under its own `error_type`, and in both cases the settlement says the
//! same.

mod common;

use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::BasicProperties;
use pipeline_telemetry::testing::{parse_line, sums_by, ParsedMetric};
use pipeline_telemetry::{instrument_stage, ErrorType, MetricsTarget};
use pipeline_telemetry::{PipelineRun, Stage};
use pipeline_telemetry_lapin::{Message, Settlement, Worker};
use pipeline_telemetry_test_support::{peers, UdpReceiver};

static HANDLE: Stage = Stage::new("handle");
static HANDLE_TYPED: Stage = Stage::new("handle_typed");

#[derive(Debug)]
struct Rejected;
impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("warehouse rejected the batch")
    }
}
impl std::error::Error for Rejected {}
impl ErrorType for Rejected {
    fn error_type(&self) -> &'static str {
        "rejected"
    }
}

#[instrument_stage]
async fn load(_rows: usize) -> Result<(), Rejected> {
    tokio::task::yield_now().await;
    Err(Rejected)
}

/// `pipeline.errors` of `stage` by `error_type`, summed over flushes.
fn errors(m: &[ParsedMetric], stage: &str) -> Vec<(String, f64)> {
    sums_by(m, "pipeline.errors", &[("stage", stage)], "error_type")
}

async fn next(c: &mut lapin::Consumer) -> lapin::message::Delivery {
    tokio::time::timeout(Duration::from_secs(20), c.next())
        .await
        .expect("a delivery in time")
        .expect("consumer open")
        .expect("delivery")
}

#[test]
fn a_handler_passing_on_a_stage_failure_is_counted_once_with_the_typed_error_type() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let udp = UdpReceiver::bind().expect("udp receiver");
    let telemetry = common::telemetry("lapin-nested", MetricsTarget::Udp(udp.addr()), None);
    let rt = common::runtime();
    let queue = common::unique("nested");
    let conn = rt.block_on(common::connect());
    let channel = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(common::declare(&channel, &queue));
    for body in ["passes_on", "typed"] {
        rt.block_on(async {
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions::default(),
                    body.as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .expect("publish")
                .await
                .expect("confirm")
        });
    }
    let settled = rt.block_on(async {
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                "nested".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let first = next(&mut consumer).await;
        let passes_on = Worker::new(&HANDLE, queue.as_str())
            .with_pipeline("lapin_nested")
            .handle(first, |msg: Message| async move {
                load(msg.data.len()).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(1u64)
            })
            .await
            .expect("settled");
        let second = next(&mut consumer).await;
        let typed = Worker::new(&HANDLE_TYPED, queue.as_str())
            .with_pipeline("lapin_nested")
            .handle_typed(
                second,
                |_msg: Message| async move { Err::<u64, _>(Rejected) },
            )
            .await
            .expect("settled");
        common::delete(&channel, &queue).await;
        (passes_on, typed)
    });
    // The settlement names the failure as the metric and the spans do:
    // the inner stage's typed `error_type`, not the handler's boxed error.
    assert_eq!(
        settled.0,
        Settlement::Nacked {
            requeue: false,
            error_type: "rejected"
        }
    );
    assert_eq!(
        settled.1,
        Settlement::Nacked {
            requeue: false,
            error_type: "rejected"
        }
    );
    assert!(PipelineRun::current().is_none());
    drop(telemetry);

    // The exporter has shut down: everything it sent is in the socket.
    let lines: Vec<String> = udp.drain_lines(Duration::from_millis(200));
    let m: Vec<ParsedMetric> = lines
        .iter()
        .filter(|l| !l.is_empty() && !l.starts_with("datadog."))
        .map(|l| parse_line(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert!(
        errors(&m, "handle").is_empty(),
        "no second count: {lines:#?}"
    );
    assert_eq!(errors(&m, "load"), vec![("rejected".to_owned(), 1.0)]);
    assert_eq!(
        errors(&m, "handle_typed"),
        vec![("rejected".to_owned(), 1.0)]
    );
    let errored = |stage| {
        m.iter()
            .filter(|p| {
                p.name == "pipeline.stage.duration"
                    && p.tag("stage") == Some(stage)
                    && p.tag("status") == Some("error")
            })
            .count()
    };
    assert_eq!((errored("handle"), errored("handle_typed")), (1, 1));
}
