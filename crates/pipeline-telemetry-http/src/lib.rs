//! HTTP ingestion for pipeline-telemetry: the request that starts a run is
//! in the run's trace.
//!
//! - **Server**: [`HttpTelemetryLayer`], a tower `Layer` (axum, or any
//!   tower-based server), opens one SERVER span per request with the
//!   OpenTelemetry HTTP semantic conventions (`http.request.method`,
//!   `http.route` from axum's `MatchedPath` — never the raw path —,
//!   `http.response.status_code`, `url.scheme`, `server.address`,
//!   `client.address`, `user_agent.original`). Datadog's OTLP mapping names
//!   such a span `http.server.request` with the resource `GET /items/{id}`.
//!   A 5xx response or an error of the inner service marks it as an error.
//!   The caller's `traceparent`/`tracestate`/`baggage` make it a child of
//!   the caller's span; its `pipeline_id` is handed to the handler as an
//!   [`IncomingContext`], whose [`start_run`](IncomingContext::start_run)
//!   starts a run that is a child of the request span and keeps that id.
//! - **Client**: [`TracedSend::send_traced`] sends a `reqwest` request in a
//!   CLIENT span (`http.client.request`) with the context injected, so a
//!   service-to-service call stays one trace.
//! - **Metrics**: none by default. The Agent derives
//!   `trace.http.server.request.*` from the spans; services without APM opt
//!   in to `pipeline.http.request.duration`
//!   ([`HttpTelemetryLayer::with_request_metric`]).
//!
//! ```
//! use axum::{extract::Path, http::StatusCode, routing::post, Router};
//! use pipeline_telemetry::Stage;
//! use pipeline_telemetry_http::{HttpTelemetryLayer, IncomingContext};
//!
//! static INGEST: Stage = Stage::new("ingest");
//!
//! async fn ingest(ctx: IncomingContext, Path(batch): Path<u32>) -> StatusCode {
//!     let run = ctx.start_run("ingest");
//!     run.record_records(&INGEST, u64::from(batch));
//!     run.finish();
//!     StatusCode::ACCEPTED
//! }
//!
//! let app: Router = Router::new()
//!     .route("/batches/{n}", post(ingest))
//!     .layer(HttpTelemetryLayer::new());
//! ```
#![deny(missing_docs)]

mod carrier;
mod client;
mod error;
mod future;
mod layer;
mod metric;
mod service;
pub mod spans;

pub use carrier::IncomingContext;
pub use client::{send, TracedSend};
pub use error::SendError;
pub use future::ResponseFuture;
pub use layer::HttpTelemetryLayer;
pub use metric::UNMATCHED_ROUTE;
pub use service::HttpTelemetryService;
