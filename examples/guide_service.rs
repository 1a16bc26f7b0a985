//! The whole monitoring guide in one service: an axum endpoint accepts a
//! batch and publishes it to RabbitMQ; a worker consumes it, writes it to
//! PostgreSQL with sqlx, and (when the batch asks for it) runs dbt and a
//! Spark job as subprocess stages, with the Spark monitor reading the job's
//! metrics. One run per accepted batch, one trace from the caller through
//! every layer, every failure counted once.
//!
//! ```text
//! cargo run --example guide_service
//! curl -X POST --data '1,2,3' 'http://127.0.0.1:8090/batches?transform=1'
//! ```
//!
//! Settings: `PORT` (8090), `DATABASE_URL`, `AMQP_URL`, `GUIDE_QUEUE`
//! (`guide_service`), `GUIDE_PYTHON` (a Python with dbt and pyspark;
//! `.venv/bin/python`). Ctrl-C stops it; no dbt or Spark process outlives
//! it.
//! Metrics, spans and logs go where `init()` finds an Agent, else to the
//! console.

#[path = "guide_service/work.rs"]
mod work;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use pipeline_telemetry::instrument_stage;
use pipeline_telemetry_http::{HttpTelemetryLayer, IncomingContext};
use pipeline_telemetry_lapin::{QueueLengthCollector, ServerAddress, TracedChannel, TracedPublish};
use pipeline_telemetry_sqlx::TracedPool;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The batch the caller sent is not a comma-separated list of integers.
#[derive(Debug)]
struct BadBatch(String);

impl std::fmt::Display for BadBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a batch: {}", self.0)
    }
}

impl std::error::Error for BadBatch {}

#[instrument_stage]
fn parse(body: &str) -> Result<Vec<i64>, BadBatch> {
    let rows = body
        .split(',')
        .map(|v| v.trim().parse::<i64>().map_err(|e| BadBatch(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    pipeline_telemetry::record_records(rows.len() as u64);
    Ok(rows)
}

#[instrument_stage]
async fn publish(app: &App, rows: &[i64], options: &Options) -> Result<(), BoxError> {
    let body: Vec<String> = rows.iter().map(i64::to_string).collect();
    let mut headers = FieldTable::default();
    headers.insert("transform".into(), AMQPValue::Boolean(options.transform));
    if let Some(s) = &options.spark_seconds {
        headers.insert(
            "spark_seconds".into(),
            AMQPValue::LongString(s.as_str().into()),
        );
    }
    app.channel
        .publish_traced(
            "",
            &app.queue,
            BasicPublishOptions::default(),
            body.join(",").as_bytes(),
            BasicProperties::default().with_headers(headers),
        )
        .await?
        .await?;
    Ok(())
}

/// What the request handlers share.
struct App {
    channel: TracedChannel,
    queue: String,
}

/// What the query string asks for: `transform=1` runs dbt and Spark on
/// the batch, `spark_seconds=S` makes the Spark job's slow tasks last S s.
#[derive(Debug, Default)]
struct Options {
    transform: bool,
    spark_seconds: Option<String>,
}

impl Options {
    fn parse(query: Option<&str>) -> Self {
        let mut o = Options::default();
        for pair in query.unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("transform", v)) => o.transform = v == "1",
                Some(("spark_seconds", v)) if v.parse::<f64>().is_ok_and(f64::is_finite) => {
                    o.spark_seconds = Some(v.to_owned());
                }
                _ => {}
            }
        }
        o
    }
}

/// `POST /batches?transform=1`: one run per accepted batch.
async fn accept(
    ctx: IncomingContext,
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    body: String,
) -> (StatusCode, String) {
    let options = Options::parse(query.as_deref());
    let run = ctx.start_run("guide");
    let id = run.pipeline_id().to_owned();
    let result = run
        .scope(async {
            let rows = parse(&body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
            publish(&app, &rows, &options)
                .await
                .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
            Ok::<_, (StatusCode, String)>(rows.len())
        })
        .await;
    match result {
        Ok(n) => {
            run.finish();
            (
                StatusCode::ACCEPTED,
                format!("pipeline_id={id} records={n}\n"),
            )
        }
        Err((status, why)) => {
            run.fail(&why);
            (status, format!("pipeline_id={id} {why}\n"))
        }
    }
}

async fn serve(app: Arc<App>, port: u16) -> Result<(), BoxError> {
    let router = Router::new()
        .route("/batches", post(accept))
        .layer(HttpTelemetryLayer::new())
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "guide_service listening on http://{}  (POST /batches?transform=1, body 1,2,3; Ctrl-C stops)",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn main_async() -> Result<(), BoxError> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let db_url = env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    let amqp_url = env("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f");
    let queue = env("GUIDE_QUEUE", "guide_service");
    let port: u16 = env("PORT", "8090").parse()?;

    let db = TracedPool::new(sqlx::PgPool::connect(&db_url).await.map_err(|e| {
        format!("PostgreSQL at {db_url}: {e} (scripts/ensure-services.sh starts it)")
    })?);
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS guide_rows (pipeline_id TEXT NOT NULL, value INTEGER NOT NULL)",
    )
    .execute(db.pool())
    .await?;
    let connection = Connection::connect(&amqp_url, ConnectionProperties::default())
        .await
        .map_err(|e| {
            format!("RabbitMQ at {amqp_url}: {e} (scripts/ensure-services.sh starts it)")
        })?;
    let server = ServerAddress::from_uri(&amqp_url).ok_or("AMQP_URL does not parse")?;
    let channel = TracedChannel::new(connection.create_channel().await?, server.clone());
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let collector = QueueLengthCollector::new(amqp_url.as_str())
        .with_queue(queue.as_str())
        .with_interval(Duration::from_secs(1))
        .start()?;
    let watchdog = work::PollDelay::start();
    let worker = tokio::spawn(work::consume(
        TracedChannel::new(connection.create_channel().await?, server),
        queue.clone(),
        db,
    ));
    let app = Arc::new(App { channel, queue });
    let served = serve(app, port).await;
    // Ctrl-C: the worker's task is dropped with whatever it was doing; its
    // subprocess stages end their process groups.
    worker.abort();
    let _ = worker.await;
    collector.stop().await;
    println!("max poll delay: {} ms", watchdog.max_ms());
    served
}

fn main() -> std::process::ExitCode {
    let telemetry = pipeline_telemetry::init();
    // One thread: any blocking call of a layer would stall every task (the
    // poll-delay watchdog reports the worst stall on exit).
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(main_async()),
        Err(e) => Err(e.into()),
    };
    drop(telemetry); // flushes metrics, spans and logs
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guide_service: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
