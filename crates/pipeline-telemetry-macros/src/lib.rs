//! The `#[instrument_stage]` attribute of `pipeline-telemetry`; use it
//! through that crate (`pipeline_telemetry::instrument_stage`).
//!
//! Layout: `attr.rs` parses the arguments, `expand.rs` generates code.
//! Generated code calls only `::pipeline_telemetry::__private` paths.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod attr;
mod expand;

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
