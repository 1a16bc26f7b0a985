//! Per-message overhead of the RabbitMQ layer next to bare lapin, in the
//! same run:
//!
//! - `lapin_cpu`: no broker. `bare` builds the message properties and hands
//!   a delivery to a no-op handler and acks it (a mocked delivery, whose ack
//!   costs nothing); `traced` does the same through the layer: a PRODUCER
//!   span and the headers injected, then the headers extracted, the
//!   CONSUMER span, the delivery's run, the handler as a stage, and the ack.
//! - `lapin_roundtrip`: the real broker on 127.0.0.1:5672. `bare` is
//!   `basic_publish`, the delivery from a consumer and `basic_ack`;
//!   `traced` is `publish_traced` (inside a run) and the same delivery
//!   through `Worker::handle`.
//!
//! Spans are exported over OTLP to a closed loopback port (export fails
//! off the hot path), metrics go to a loopback UDP socket nobody reads.
//! Excluded: the export itself (batched on a background thread) and
//! publisher confirms (not enabled on either side).
//!
//! `PT_BENCH_QUICK=1` shortens the run; `PT_BENCH_LAPIN_METRICS_ONLY=1`
//! leaves the OpenTelemetry layer out (metrics only).

use std::hint::black_box;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use pipeline_telemetry::otel::{LogFormat, Protocol, TracesExport};
use pipeline_telemetry::{MetricsTarget, PipelineRun, Stage, TelemetryBuilder};
use pipeline_telemetry_lapin::{inject_headers, Message, TracedPublish, Worker};

static HANDLE: Stage = Stage::new("handle");

fn config() -> Criterion {
    let quick = std::env::var_os("PT_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
    let c = Criterion::default();
    if quick {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20)
    } else {
        c
    }
}

/// An OTLP endpoint on a loopback port nobody listens on.
fn closed_loopback_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

async fn noop(m: Message) -> Result<usize, std::io::Error> {
    Ok(black_box(m.data.len()))
}

fn delivery(props: BasicProperties) -> Delivery {
    let mut d = Delivery::mock(1, "".into(), "bench".into(), false, b"1,2,3".to_vec());
    d.properties = props;
    d
}

fn benches(c: &mut Criterion) {
    let blackhole = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    // PT_BENCH_LAPIN_METRICS_ONLY=1: no OpenTelemetry layer (spans are
    // not recorded), to tell the spans' share from the metrics'.
    let metrics_only = std::env::var_os("PT_BENCH_LAPIN_METRICS_ONLY").is_some();
    let builder = TelemetryBuilder::from_env()
        .with_service("bench")
        .with_metrics_target(MetricsTarget::Udp(
            blackhole.local_addr().expect("addr").to_string(),
        ))
        .with_otel(|o| {
            o.with_endpoint(closed_loopback_endpoint())
                .with_protocol(Protocol::HttpProtobuf)
                .with_traces(TracesExport::Otlp)
                .with_log_format(LogFormat::Json)
                .with_log_writer(std::io::sink)
                .with_console_writer(std::io::sink)
        })
        .quiet();
    let builder = if metrics_only {
        builder.without_otel()
    } else {
        builder
    };
    let _telemetry = builder.try_init().expect("telemetry");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let run = PipelineRun::start("bench_producer", "run-1");
    let worker = Worker::new(&HANDLE, "bench").with_run_per_delivery("bench_consumer");

    let mut g = c.benchmark_group("lapin_cpu");
    g.bench_function("bare", |b| {
        b.iter(|| {
            rt.block_on(async {
                let props = BasicProperties::default().with_message_id("m".into());
                let d = delivery(props);
                let Delivery { data, acker, .. } = d;
                black_box(data.len());
                acker.ack(BasicAckOptions::default()).await.expect("ack");
            })
        })
    });
    g.bench_function("traced", |b| {
        b.iter(|| {
            rt.block_on(async {
                let props = run.in_scope(|| {
                    let span = tracing::info_span!("rabbitmq.send", otel.kind = "producer");
                    inject_headers(
                        &span,
                        BasicProperties::default().with_message_id("m".into()),
                    )
                });
                worker.handle(delivery(props), noop).await.expect("settled");
            })
        })
    });
    g.finish();

    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let conn = match rt.block_on(Connection::connect(&url, ConnectionProperties::default())) {
        Ok(c) => c,
        Err(e) => {
            panic!("the round-trip bench needs RabbitMQ at {url} (scripts/ensure-services.sh): {e}")
        }
    };
    let channel = rt.block_on(conn.create_channel()).expect("channel");
    let queue = format!("pt_lapin_bench_{}", std::process::id());
    rt.block_on(channel.queue_declare(
        queue.as_str().into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    ))
    .expect("declare");
    let mut consumer = rt
        .block_on(channel.basic_consume(
            queue.as_str().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        ))
        .expect("consume");
    let worker = Worker::new(&HANDLE, queue.as_str()).with_run_per_delivery("bench_consumer");

    let mut g = c.benchmark_group("lapin_roundtrip");
    g.bench_function("bare", |b| {
        b.iter(|| {
            rt.block_on(async {
                channel
                    .basic_publish(
                        "".into(),
                        queue.as_str().into(),
                        BasicPublishOptions::default(),
                        b"1,2,3",
                        BasicProperties::default(),
                    )
                    .await
                    .expect("publish");
                let d = consumer.next().await.expect("open").expect("delivery");
                d.ack(BasicAckOptions::default()).await.expect("ack");
            })
        })
    });
    g.bench_function("traced", |b| {
        b.iter(|| {
            rt.block_on(async {
                run.scope(channel.publish_traced(
                    "",
                    &queue,
                    BasicPublishOptions::default(),
                    b"1,2,3",
                    BasicProperties::default(),
                ))
                .await
                .expect("publish");
                let d = consumer.next().await.expect("open").expect("delivery");
                worker.handle(d, noop).await.expect("settled");
            })
        })
    });
    g.finish();

    let _ = rt.block_on(channel.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()));
    let _ = rt.block_on(conn.close(200, "done".into()));
    run.finish();
}

criterion_group! {
    name = lapin_benches;
    config = config();
    targets = benches
}
criterion_main!(lapin_benches);
