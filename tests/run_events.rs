//! With run events on, each run ends with a `pipeline.run` service check and
//! a failed run also sends an event.

use pipeline_telemetry::testing::MemorySink;
use pipeline_telemetry::{instrument_stage, MetricsTarget, PipelineRun, TelemetryBuilder};

#[instrument_stage]
fn load(fail: bool) -> Result<(), std::io::Error> {
    if fail {
        return Err(std::io::Error::other("warehouse down"));
    }
    Ok(())
}

#[test]
fn runs_send_a_service_check_and_failed_runs_an_event() {
    let sink = MemorySink::new();
    let telemetry = TelemetryBuilder::from_env()
        .with_metrics_target(MetricsTarget::Memory(sink.clone()))
        .without_otel()
        .with_run_events(true)
        .quiet()
        .init()
        .expect("init");
    {
        let run = PipelineRun::start("good_etl", "1");
        run.in_scope(|| load(false)).expect("ok");
        run.finish();
    }
    {
        let run = PipelineRun::start("bad_etl", "2");
        assert!(run.in_scope(|| load(true)).is_err());
    }
    drop(telemetry);
    let lines = sink.events_and_checks();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("_sc|pipeline.run|0|#pipeline:good_etl")),
        "{lines:?}"
    );
    let bad = lines
        .iter()
        .find(|l| l.starts_with("_sc|pipeline.run|2|#pipeline:bad_etl"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(bad.ends_with("|m:run 2 of bad_etl failed"), "{bad}");
    let event = lines
        .iter()
        .find(|l| l.starts_with("_e{"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(
        event.contains(":Pipeline bad_etl failed|Run 2 failed.|"),
        "{event}"
    );
    assert!(
        event.contains("|t:error")
            && event.contains("|k:bad_etl")
            && event.contains("pipeline_id:2"),
        "{event}"
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    // The metrics are still all there and parse.
    let metrics = sink.metrics().expect("parse");
    assert!(metrics.iter().any(|m| m.name == "pipeline.runs"));
}
