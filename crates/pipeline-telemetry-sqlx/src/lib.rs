//! PostgreSQL for pipeline-telemetry: every query a stage makes through
//! sqlx is a CLIENT span in the run's trace, and a failed query says which
//! SQLSTATE it failed with.
//!
//! - **Spans**: one per query, child of the current span (the stage that
//!   runs it), with the OpenTelemetry database conventions:
//!   `db.system.name=postgresql`, `db.operation.name`, `db.collection.name`
//!   when the statement names one table, `db.query.text` with every literal
//!   replaced by `?` (bound `$n` parameters stay), `db.namespace`,
//!   `server.address`, `server.port`, and on failure
//!   `db.response.status_code` (the SQLSTATE) and `error.type`. Datadog
//!   shows them as `postgresql.query` spans whose resource is the query.
//! - **Errors**: the span is marked; a stage that returns [`DbError`] (a
//!   `#[instrument_stage]` function, or `Stage::run_async_typed`) counts
//!   `pipeline.errors` with an `error_type` from the SQLSTATE
//!   ([`error_type`]): a deadlock is `sqlstate_40P01_deadlock_detected`, a
//!   missing table `sqlstate_42P01_undefined_table`. A bare `sqlx::Error`
//!   gets the same with `Stage::run_async_with_error_type(fut,
//!   error_type)`. An outer stage that passes the error on does not count
//!   it again.
//! - **Metrics**: none of its own. Query counts, locks and deadlocks are
//!   the Agent's postgres check (`postgresql.*`).
//!
//! ## Why a wrapper around the executor
//!
//! sqlx reports each query only as a log event (`sqlx::query`) emitted
//! after the query is done: it carries the statement's full text (with any
//! literal written inline), the elapsed time and the row counts, but no
//! SQLSTATE, and no span to parent anything to. Turning those events into
//! spans would mean back-dating a span from `elapsed`, parsing its message,
//! and still not knowing why a query failed. Wrapping the executor sees the
//! query before it runs (its text, to strip literals from), times it
//! exactly, runs it inside the span (so the stage is its parent), and gets
//! the `sqlx::Error` with its SQLSTATE. User code stays ordinary sqlx:
//! `sqlx::query(..).bind(..).execute(&db)` with `db` a [`TracedPool`], the
//! checked `sqlx::query!(..).execute(&db)` as well, and in a transaction
//! from [`TracedPool::begin`], `.execute(&mut *tx)`.
//!
//! ## With sqlx as users add it
//!
//! `sqlx = { version = "0.9", features = ["runtime-tokio", "postgres"] }`
//! (default features on: `macros`, `migrate`, `json`, `any`) and this crate
//! build together: its executors implement every method of
//! `sqlx::Executor`, `describe` included (which `macros` adds), and it
//! turns `macros` on itself so that the method set is the same in every
//! build. A pool of your own is wrapped as it is ([`TracedPool::new`]):
//! none of its options changes.
//!
//! ```no_run
//! use pipeline_telemetry::{PipelineRun, Stage};
//! use pipeline_telemetry_sqlx::{DbError, TracedPool};
//!
//! static LOAD: Stage = Stage::new("load");
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let db = TracedPool::connect("postgres://postgres@127.0.0.1:5432/test").await?;
//! let run = PipelineRun::start("daily_etl", "42");
//! let n = run
//!     .scope(LOAD.run_async_typed(async {
//!         let done = sqlx::query("INSERT INTO items (id) VALUES ($1)")
//!             .bind(7_i64)
//!             .execute(&db)
//!             .await?;
//!         Ok::<_, DbError>(done.rows_affected())
//!     }))
//!     .await?;
//! run.record_records(&LOAD, n);
//! run.finish();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod error;
mod executor;
mod pool;
pub mod spans;
pub mod sql;
mod transaction;

pub use error::{error_type, sqlstate, sqlstate_error_type, ConnectError, DbError};
pub use executor::Traced;
pub use pool::TracedPool;
pub use transaction::TracedTransaction;
