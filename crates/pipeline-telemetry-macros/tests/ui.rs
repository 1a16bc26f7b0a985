//! Misuse of `#[instrument_stage]` fails to compile with an error spanned
//! at the offending token (one file per case in `ui/`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
