//! The `#[instrument_stage]` and `#[instrument_run]` attributes of
//! `pipeline-telemetry`; use them through that crate
//! (`pipeline_telemetry::instrument_stage`, `pipeline_telemetry::instrument_run`).
//!
//! Layout: `attr.rs` / `run_attr.rs` parse the arguments, `expand.rs` /
//! `run_expand.rs` generate code.
//! Generated code calls only `::pipeline_telemetry::__private` paths.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod attr;
mod expand;
mod run_attr;
mod run_expand;

/// Times a pipeline stage and reports it to Datadog.
///
/// Each call records `pipeline.stage.duration` (seconds, a distribution)
/// tagged `pipeline`, `stage` and `status:ok|error`, counts
/// `pipeline.errors` (with `error_type`) when the function returns `Err` or
/// panics, and runs inside a `pipeline.stage` span, child of the current
/// run's span. Works on `fn` and `async fn`, free functions and methods,
/// generic or not; the stage name is the function's name unless given:
///
/// ```ignore
/// #[instrument_stage]                  // stage "extract"
/// fn extract() -> Result<Vec<u8>, std::io::Error> { Ok(vec![]) }
///
/// #[instrument_stage(stage = "dbt")]
/// async fn transform() -> Result<(), std::io::Error> { Ok(()) }
/// ```
///
/// **Retries**: `retry(attempts = N, backoff = "exponential" | "fixed" |
/// "none", base_ms = 100, max_ms = 30000, jitter = true | false | "full" |
/// "equal" | "none", timeout_ms = ..)` (only `attempts` is required;
/// `timeout_ms` only on an `async fn`, whose error type must implement
/// `From<AttemptTimeout>`), or `retry = <expression>` giving a
/// `pipeline_telemetry::RetryPolicy<E>` (or a `LazyLock` of one), for a
/// `retry_if` predicate. The function must return a `Result`; its body
/// runs once per attempt (a fresh future per attempt for an `async fn`),
/// each attempt with its own clone of every argument, so arguments must be
/// `Clone` (shared references are) and receivers `&self` (or `&mut self`
/// on a `fn`). Each attempt is a `pipeline.stage.attempt` span under the
/// stage's span; the stage's duration and status cover all attempts.
///
/// ```ignore
/// #[instrument_stage(stage = "extract", retry(attempts = 3, base_ms = 100, max_ms = 2000, timeout_ms = 5000))]
/// async fn extract(url: String) -> Result<Vec<u8>, std::io::Error> { todo!() }
/// ```
#[proc_macro_attribute]
pub fn instrument_stage(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse::<attr::StageArgs>(args) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    match expand::expand(args, item.into()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Makes a function one pipeline run: each call starts a run, runs the
/// body with the run current (`run.scope` for an `async fn`, `run.in_scope`
/// for a `fn`), and ends it with the body's outcome: `finish()` on `Ok` (or
/// any non-`Result` value), `fail` with the error's message and type on
/// `Err`.
///
/// `pipeline = "..."` names the pipeline (default: the function's name);
/// `pipeline_id = <expression>` gives the run's id from the arguments
/// (default: a fresh id per call).
///
/// ```ignore
/// #[instrument_run(pipeline = "daily_etl", pipeline_id = day)]
/// async fn daily(day: u32) -> Result<(), std::io::Error> {
///     extract().await?;      // stages see the run, whichever worker polls them
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn instrument_run(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse::<run_attr::RunArgs>(args) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    match run_expand::expand(args, item.into()) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
