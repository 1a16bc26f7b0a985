//! Misuse of `#[instrument_stage]` fails to compile with an error spanned
//! at the offending token (one file per case in `ui/`); the retried stages
//! in `ui-pass/` compile and run.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
