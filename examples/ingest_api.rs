//! An ingestion API: each `POST /batches/{source}` starts a pipeline run
//! (continuing the caller's trace and `pipeline_id` when it sent W3C
//! headers), writes the batch to PostgreSQL inside a `store` stage, and
//! reports the records.
//!
//! ```sh
//! cargo run --example ingest_api            # DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test
//! curl -X POST --data-binary $'a\nb\nc' \
//!   -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
//!   -H 'baggage: pipeline_id=42' http://127.0.0.1:8080/batches/web
//! ```
//!
//! Each request is an `http.server.request` span (resource
//! `POST /batches/{source}`), parent of the run, its `store` stage and one
//! `postgresql.query` span per INSERT. `PORT` changes the port.

use std::net::SocketAddr;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use pipeline_telemetry::Stage;
use pipeline_telemetry_http::{HttpTelemetryLayer, IncomingContext};
use pipeline_telemetry_sqlx::{DbError, TracedPool};

static STORE: Stage = Stage::new("store");

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Writes one record per non-empty line of the body.
async fn store(
    db: &TracedPool,
    source: &str,
    pipeline_id: &str,
    body: &str,
) -> Result<u64, DbError> {
    let mut tx = db.pool().begin().await?;
    let mut n = 0;
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        sqlx::query(
            "INSERT INTO ingest_records (source, pipeline_id, payload) VALUES ($1, $2, $3)",
        )
        .bind(source)
        .bind(pipeline_id)
        .bind(line)
        .execute(db.on(&mut *tx))
        .await?;
        n += 1;
    }
    tx.commit().await?;
    Ok(n)
}

async fn ingest(
    ctx: IncomingContext,
    State(db): State<TracedPool>,
    Path(source): Path<String>,
    body: String,
) -> (StatusCode, String) {
    let run = ctx.start_run("ingest_api");
    let id = run.pipeline_id().to_owned();
    match run
        .scope(STORE.run_async_typed(store(&db, &source, &id, &body)))
        .await
    {
        Ok(n) => {
            run.record_records(&STORE, n);
            run.finish();
            (
                StatusCode::ACCEPTED,
                format!("pipeline_id={id} records={n}\n"),
            )
        }
        Err(e) => {
            run.fail_with_error(&e);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the batch could not be stored\n".into(),
            )
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = pipeline_telemetry::init()?;
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
    let db = match TracedPool::connect(&url).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!(
                "ingest_api: {e}\n\
                 Start PostgreSQL (scripts/ensure-services.sh) or set DATABASE_URL, e.g. \
                 DATABASE_URL={DEFAULT_DATABASE_URL}"
            );
            drop(telemetry);
            std::process::exit(1);
        }
    };
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS ingest_records (\
         id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL, pipeline_id TEXT NOT NULL, \
         payload TEXT NOT NULL, received_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(db.pool())
    .await?;

    let app = Router::new()
        .route("/batches/{source}", post(ingest))
        .layer(HttpTelemetryLayer::new())
        .with_state(db);
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("ingest_api listening on http://{addr}  (POST /batches/{{source}}, one record per line; Ctrl-C stops)");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    // Flushes metrics and spans (bounded wait).
    drop(telemetry);
    Ok(())
}
