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
/// run's span. `error_type` is the error's own value when its type
/// implements `pipeline_telemetry::ErrorType` (an exit code, a SQLSTATE
/// class), else its short type name (`pipeline_telemetry::error_type_name`).
/// A stage whose error passes on the failure of the last stage it called
/// (`?`) marks its span and status but does not count the failure again:
/// the innermost stage that failed counted it. Works on `fn` and `async fn`, free functions and methods,
/// generic or not; the stage name is the function's name unless given:
///
/// ```
/// use pipeline_telemetry::instrument_stage;
///
/// #[instrument_stage]                  // stage "extract"
/// fn extract() -> Result<Vec<u8>, std::io::Error> {
///     Ok(vec![1, 2])
/// }
///
/// #[instrument_stage(stage = "dbt")]   // stage "dbt"
/// async fn transform(rows: Vec<u8>) -> Result<usize, std::io::Error> {
///     Ok(rows.len())
/// }
///
/// # fn main() -> Result<(), std::io::Error> {
/// let rows = extract()?;
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// assert_eq!(rt.block_on(transform(rows))?, 2);
/// # Ok(())
/// # }
/// ```
///
/// **What it expands to** (a sketch: `__private` is
/// `::pipeline_telemetry::__private`, hidden items of the facade; `outcome`
/// stands for the generated check that reads `Ok`, a non-`Result` value,
/// or `Err` with the error's message and its `error_type`). The signature is kept; the
/// body moves into a closure (`fn`) or an `async move` block (`async fn`)
/// whose type is pinned to the declared return type, so `?` and `return`
/// behave as before:
///
/// ```text
/// fn extract() -> Result<Vec<u8>, std::io::Error> {
///     static __PT_CALLSITE: __private::StageCallsite = __private::StageCallsite::new("extract");
///     let mut __pt_guard = __private::StageGuard::start(&__PT_CALLSITE); // span opened, clock started
///     let __pt_ret: Result<Vec<u8>, std::io::Error> = {
///         let __pt_entered = __pt_guard.enter();
///         (move || { Ok(vec![1, 2]) })()                            // the original body
///     };
///     __pt_guard.finish(outcome(&__pt_ret)); // duration, status, error count; a panic
///     __pt_ret                               // drops the guard unfinished: an error
/// }
///
/// async fn transform(rows: Vec<u8>) -> Result<usize, std::io::Error> {
///     static __PT_CALLSITE: __private::StageCallsite = __private::StageCallsite::new("dbt");
///     __private::StageFuture::new(           // times from the first poll to the output,
///         &__PT_CALLSITE,                    // each poll inside the stage's span
///         async move { Ok(rows.len()) },     // the original body
///         |__pt_ret| outcome(__pt_ret),
///     )
///     .await
/// }
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
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// use pipeline_telemetry::instrument_stage;
///
/// static CALLS: AtomicU32 = AtomicU32::new(0);
///
/// #[instrument_stage(stage = "extract", retry(attempts = 3, base_ms = 1, max_ms = 20, timeout_ms = 5000))]
/// async fn extract(url: String) -> Result<usize, std::io::Error> {
///     if CALLS.fetch_add(1, Ordering::Relaxed) == 0 {
///         return Err(std::io::Error::other("connection reset")); // retried
///     }
///     Ok(url.len())
/// }
///
/// # fn main() -> Result<(), std::io::Error> {
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
/// assert_eq!(rt.block_on(extract("s3://raw".into()))?, 8);
/// assert_eq!(CALLS.load(Ordering::Relaxed), 2);
/// # Ok(())
/// # }
/// ```
///
/// A retried stage expands like the others, with the body run by the
/// facade's retry loop inside the stage's span (sketch, `async fn`; a `fn`
/// uses `attempts_sync` with a closure in the `StageGuard` form above):
///
/// ```text
/// __private::StageFuture::new(&__PT_CALLSITE, async move {
///     let __pt_policy: &__private::RetryPolicy<_> = &(__private::RetryPolicy::new(3)
///         .with_backoff(__private::Backoff::exponential(Duration::from_millis(1))
///             .with_max(Duration::from_millis(20))
///             .with_jitter(__private::Jitter::Full))
///         .with_attempt_timeout(Duration::from_millis(5000)));
///     __private::attempts_async(__pt_policy, __PT_CALLSITE.stage(), move |_: __private::Attempt| {
///         let url = __private::RetryArgument::__pt_attempt_copy(&url); // each attempt's own copy
///         async move { /* the original body */ }
///     })
///     .await
/// }, |__pt_ret| outcome(__pt_ret))
/// .await
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
/// ```
/// use pipeline_telemetry::{instrument_run, instrument_stage, PipelineRun};
///
/// #[instrument_stage]
/// async fn extract(day: u32) -> Result<u32, std::io::Error> {
///     Ok(day * 10)
/// }
///
/// #[instrument_run(pipeline = "daily_etl", pipeline_id = day)]
/// async fn daily(day: u32) -> Result<u32, std::io::Error> {
///     let rows = extract(day).await?; // stages see the run, whichever worker polls them
///     assert_eq!(PipelineRun::current().map(|r| r.pipeline()), Some("daily_etl"));
///     Ok(rows)
/// }
///
/// #[instrument_run]                   // pipeline "nightly", a fresh id per call
/// fn nightly() -> usize {
///     3
/// }
///
/// # fn main() -> Result<(), std::io::Error> {
/// let rt = tokio::runtime::Builder::new_multi_thread().build()?;
/// assert_eq!(rt.block_on(daily(7))?, 70);
/// assert_eq!(nightly(), 3);
/// assert!(PipelineRun::current().is_none()); // each run ends with its call
/// # Ok(())
/// # }
/// ```
///
/// **What it expands to** (a sketch: `__private` is
/// `::pipeline_telemetry::__private`; `outcome` stands for the generated
/// check that reads `Ok`, a non-`Result` value, or `Err` with the error's
/// message and type):
///
/// ```text
/// async fn daily(day: u32) -> Result<u32, std::io::Error> {
///     let __pt_run = ::pipeline_telemetry::PipelineRun::start("daily_etl", &(day));
///     let __pt_ret: Result<u32, std::io::Error> =
///         __pt_run.scope(async move { /* the original body */ }).await;
///     __private::end_run(__pt_run, outcome(&__pt_ret)); // finish(), or fail with the error
///     __pt_ret
/// }
///
/// fn nightly() -> usize {
///     let __pt_run = ::pipeline_telemetry::PipelineRun::start(
///         "nightly",
///         __private::fresh_pipeline_id(),
///     );
///     let __pt_ret: usize = __pt_run.in_scope(move || { 3 });
///     __private::end_run(__pt_run, outcome(&__pt_ret));
///     __pt_ret
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
