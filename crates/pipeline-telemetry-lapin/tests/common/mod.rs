//! Shared by the real-broker tests: the broker, unique queue names, the
//! broker's own counts, telemetry set up for a test process, and the
//! producer/consumer roles the tests run in child processes.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry::{MetricsTarget, PipelineRun, Stage, TelemetryBuilder, TelemetryGuard};
use pipeline_telemetry_lapin::TracedPublish;
use pipeline_telemetry_test_support::{agent, peers};

pub(crate) mod roles;

/// The environment variable that makes a test binary act as a child role.
pub(crate) const ROLE_VAR: &str = "PT_LAPIN_ROLE";

/// A multi-thread runtime with two workers.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Connects to the test broker, failing loudly when it is down.
pub(crate) async fn connect() -> Connection {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    Connection::connect(&peers::amqp_url(), ConnectionProperties::default())
        .await
        .expect("connect to RabbitMQ")
}

/// A queue name unique to this test and process.
pub(crate) fn unique(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("pt_lapin_{label}_{}_{nanos}", std::process::id())
}

/// Declares a fresh (non-durable) queue.
pub(crate) async fn declare(channel: &Channel, queue: &str) {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue.declare");
}

/// A queue whose rejected messages go to `<queue>_dead`.
pub(crate) async fn declare_with_dead_letters(channel: &Channel, queue: &str) -> String {
    let dlq = format!("{queue}_dead");
    declare(channel, &dlq).await;
    let mut args = FieldTable::default();
    args.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString(LongString::from("")),
    );
    args.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(LongString::from(dlq.as_str())),
    );
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::default(), args)
        .await
        .expect("declare with a dead-letter queue");
    dlq
}

pub(crate) async fn publish(channel: &Channel, queue: &str, bodies: &[String]) {
    for body in bodies {
        channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
    }
}

/// The producers' publish stage.
pub(crate) static PUBLISH: Stage = Stage::new("publish");

/// A producer run (`pipeline`, `id`) whose [`PUBLISH`] stage sends `body`,
/// traced, to each queue as many times as given, each publish confirmed.
pub(crate) async fn publish_run(
    channel: &(impl TracedPublish + Sync),
    pipeline: &str,
    id: &str,
    to: &[(&str, usize)],
    body: &[u8],
) {
    let run = PipelineRun::start(pipeline, id);
    run.scope(PUBLISH.run_async(async {
        for &(queue, n) in to {
            for _ in 0..n {
                channel
                    .publish_traced(
                        "",
                        queue,
                        BasicPublishOptions::default(),
                        body,
                        BasicProperties::default(),
                    )
                    .await?
                    .await?;
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    }))
    .await
    .expect("publish");
    run.finish();
}

/// Deletes a queue (ignores a missing one).
pub(crate) async fn delete(channel: &Channel, queue: &str) {
    let _ = channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await;
}

/// The broker's own count of `queue`'s ready and unacknowledged messages,
/// from `rabbitmqctl list_queues` (not through AMQP).
pub(crate) fn broker_counts(queue: &str) -> Option<(u64, u64)> {
    let out = Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_queues",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ])
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl (the broker's own count) cannot run: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl list_queues failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next()? == queue).then_some(())?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

/// The broker's (ready, unacknowledged) counts of `queue` once they equal
/// `expected`, or the last seen after 20 s.
pub(crate) fn broker_counts_become(queue: &str, expected: (u64, u64)) -> Option<(u64, u64)> {
    wait_for(Duration::from_secs(20), || {
        broker_counts(queue).filter(|c| *c == expected)
    })
    .or_else(|| broker_counts(queue))
}

/// Polls `check` every 100 ms until it returns `Some` or `limit` passes.
pub(crate) fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Telemetry for a test process: metrics to `metrics`, spans to the APM
/// test agent under `token` (when given).
pub(crate) fn telemetry(
    service: &str,
    metrics: MetricsTarget,
    token: Option<&str>,
) -> TelemetryGuard {
    let builder = TelemetryBuilder::from_env()
        .with_service(service)
        .with_env("test")
        .with_flush_interval(Duration::from_millis(200))
        .with_metrics_target(metrics);
    let builder = match token {
        Some(token) => {
            let endpoint = agent::agent().otlp_http.clone();
            let token = token.to_owned();
            builder.with_otel(move |o| {
                o.with_endpoint(endpoint)
                    .with_protocol(Protocol::HttpProtobuf)
                    .with_header(agent::TOKEN_HEADER, token)
            })
        }
        None => builder.without_otel(),
    };
    builder.try_init().expect("telemetry init")
}

/// Runs this test binary again as a child in `role` (the test named
/// `child_role` reads it), with `envs`; panics with its output if it fails.
pub(crate) fn run_child(role: &str, envs: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
        .env(ROLE_VAR, role)
        .envs(envs.iter().copied())
        .output()
        .expect("spawn child process");
    assert!(
        out.status.success(),
        "child {role} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
