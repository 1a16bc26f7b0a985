//! Both status-message fields end up as the span's Error status, whatever
//! else happens in the span. Needs no agent (spans go to the console writer).

mod common;

use std::time::Duration;

use common::Captured;
use pipeline_telemetry_otel::{OtelBuilder, TracesExport};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

#[test]
fn status_description_and_status_message_both_set_the_error() {
    let console = Captured::default();
    let (layer, guard) = OtelBuilder::new("pt-status")
        .with_traces(TracesExport::Console)
        .with_console_writer(console.clone())
        .with_log_writer(std::io::sink)
        .build_layer::<Registry>()
        .expect("build");
    tracing::subscriber::with_default(Registry::default().with(layer), || {
        let a = tracing::info_span!(
            "a",
            stage = "a",
            otel.status_code = Empty,
            otel.status_description = Empty
        );
        a.in_scope(|| tracing::info!("working"));
        a.record("otel.status_code", "error");
        a.record("otel.status_description", "disk full");
        drop(a);

        let b = tracing::info_span!(
            "b",
            stage = "b",
            otel.status_code = Empty,
            otel.status_message = Empty
        );
        b.in_scope(|| tracing::error!("an error event first"));
        b.record("otel.status_code", "error");
        b.record("otel.status_message", "timed out");
        drop(b);

        let c = tracing::info_span!("c", stage = "c");
        drop(c.entered());
    });
    guard.shutdown(Duration::from_secs(5)).expect("flushed");
    let out = console.text();
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("span {name} ")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .to_owned()
    };
    assert!(line("a").ends_with("error=\"disk full\""), "{out}");
    assert!(line("b").ends_with("error=\"timed out\""), "{out}");
    assert!(!line("c").contains("error="), "{out}");
}
