//! HTTP ingestion for pipeline-telemetry: the request that starts a run is
//! in the run's trace.
//!
//! - **Server** (feature `server`, and `axum`): [`HttpTelemetryLayer`], a
//!   tower `Layer` (axum, or any tower-based server), opens one SERVER span
//!   per request with the OpenTelemetry HTTP semantic conventions
//!   (`http.request.method`, `url.path`, `url.scheme`, `http.route` from
//!   axum's `MatchedPath`, `http.response.status_code`, `server.address`,
//!   `client.address`, `user_agent.original`). Datadog's OTLP mapping names
//!   such a span `http.server.request` with the resource `GET /items/{id}`.
//!   A 5xx response or an error of the inner service marks it as an error.
//!   The caller's `traceparent`/`tracestate`/`baggage` make it a child of
//!   the caller's span; its `pipeline_id` is handed to the handler as an
//!   [`IncomingContext`], whose [`start_run`](IncomingContext::start_run)
//!   starts a run that continues the caller's trace (through the request
//!   span, or directly when a filter left the request span out) and keeps
//!   that id. Health checks can be skipped and the span shaped as with
//!   tower-http's `TraceLayer` ([`HttpTelemetryLayer::with_skip`],
//!   [`with_make_span`](HttpTelemetryLayer::with_make_span),
//!   [`with_on_response`](HttpTelemetryLayer::with_on_response)).
//! - **Client**: a CLIENT span (`http.client.request`) per request with the
//!   context injected, so a service-to-service call stays one trace and
//!   one run: configured once per client with `TracingMiddleware`
//!   (feature `reqwest-middleware` for reqwest 0.13, `reqwest-middleware-0-4`
//!   for reqwest 0.12), per call with `TracedSend::send_traced` (feature
//!   `reqwest`, reqwest 0.13), or with any client built on the `http` crate
//!   (reqwest 0.12, hyper) through [`ClientSpan`].
//! - **Metrics**: none by default. The Agent derives
//!   `trace.http.server.request.*` from the spans; services without APM opt
//!   in to `pipeline.http.request.duration`
//!   ([`HttpTelemetryLayer::with_request_metric`]).
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `server` | yes (through `axum`) | [`HttpTelemetryLayer`] for any tower server; no route without axum (name the span with `with_make_span`) |
//! | `axum` | yes | `server`, plus the route (`MatchedPath`), `client.address` (`ConnectInfo`) and `IncomingContext` as an axum extractor |
//! | `reqwest` | yes | `TracedSend::send_traced` and `send` for reqwest 0.13 |
//! | `reqwest-middleware` | no | `TracingMiddleware` for reqwest-middleware 0.5 (reqwest 0.13), and `reqwest` |
//! | `reqwest-middleware-0-4` | no | `TracingMiddleware` for reqwest-middleware 0.4 (reqwest 0.12); reqwest 0.13 not needed |
//!
//! A tower server without axum: `default-features = false, features =
//! ["server"]`. A reqwest 0.12 client: `TracingMiddleware`
//! (`reqwest-middleware-0-4`) or [`ClientSpan`] (no feature needed), and
//! `default-features = false` to leave reqwest 0.13 out.
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
#![cfg_attr(docsrs, feature(doc_cfg))]

mod carrier;
mod client;
#[cfg(feature = "reqwest")]
mod error;
#[cfg(feature = "server")]
mod future;
#[cfg(feature = "server")]
mod layer;
#[cfg(feature = "server")]
mod metric;
#[cfg(any(feature = "reqwest-middleware", feature = "reqwest-middleware-0-4"))]
mod middleware;
#[cfg(feature = "reqwest")]
mod reqwest_client;
#[cfg(any(feature = "reqwest", feature = "reqwest-middleware-0-4"))]
mod reqwest_support;
#[cfg(feature = "server")]
mod service;
pub mod spans;

pub use carrier::IncomingContext;
pub use client::ClientSpan;
#[cfg(feature = "reqwest")]
pub use error::SendError;
#[cfg(feature = "server")]
pub use future::ResponseFuture;
#[cfg(feature = "server")]
pub use layer::HttpTelemetryLayer;
#[cfg(feature = "server")]
pub use metric::UNMATCHED_ROUTE;
#[cfg(any(feature = "reqwest-middleware", feature = "reqwest-middleware-0-4"))]
pub use middleware::TracingMiddleware;
#[cfg(feature = "reqwest")]
pub use reqwest_client::{send, TracedSend};
#[cfg(feature = "server")]
pub use service::HttpTelemetryService;
