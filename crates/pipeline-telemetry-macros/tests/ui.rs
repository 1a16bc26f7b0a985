//! Misuse of `#[instrument_stage]` and `#[instrument_run]` fails to compile
//! with an error spanned at the offending token (one file per case in
//! `ui/`); every supported use compiles and runs, checking what it emits
//! (one file per case in `ui-pass/`: sync and async functions, methods,
//! generics, `?`, no `Result`, stage names defaulted and given, runs,
//! retries).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
