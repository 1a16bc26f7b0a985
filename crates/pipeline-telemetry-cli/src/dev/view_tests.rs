use pipeline_telemetry_monitors::dashboard::dashboard;
use pipeline_telemetry_monitors::guide::{guide_monitors, Routing};

use super::*;
use crate::dev::store::{Limits, Store};

const NOW: u64 = 1_700_000_095;

fn kept(datagram: &str) -> Kept {
    let mut store = Store::new(Limits::new(60));
    store.ingest(datagram.as_bytes(), NOW - 30);
    let (points, first) = store.all_points();
    Kept {
        points,
        first,
        window_secs: 3_600,
        agent: store.agent(),
    }
}

fn widget<'a>(snap: &'a Snapshot, title: &str) -> &'a Widget {
    snap.widgets
        .iter()
        .find(|w| w.title == title)
        .unwrap_or_else(|| panic!("no widget {title}"))
}

const RUNS: &str = "prefect.flow.duration:1.5:2|d|#pipeline:a,flow:a,status:ok\n\
                    prefect.flow.duration:3|d|#pipeline:b,flow:b,status:failed\n\
                    prefect.flow.duration:2|d|@0.5|#pipeline:b,flow:b,status:ok\n\
                    pipeline.errors:1|c|#pipeline:b,stage:spark,error_type:Lost\n\
                    pipeline.records:120|c|#pipeline:a,stage:extract\n";

#[test]
fn every_widget_of_the_shipped_dashboard_is_evaluated() {
    let snap = snapshot(
        &dashboard(),
        &guide_monitors(&Routing::default()),
        &kept(RUNS),
        NOW,
        &BTreeMap::new(),
    );
    assert_eq!(
        snap.widgets.len(),
        13,
        "{:?}",
        snap.widgets.iter().map(|w| &w.title).collect::<Vec<_>>()
    );
    assert!(
        snap.widgets.iter().all(|w| w.errors.is_empty()),
        "{:?}",
        snap.widgets
    );
    // 1 failed of 5 runs (the @0.5 sample counts twice, as in the Agent).
    let failed = widget(&snap, "Failed runs (%)");
    assert_eq!(failed.series.len(), 1);
    assert_eq!(failed.series[0].points, [(NOW, 20.0)]);
    let by_status = widget(&snap, "Finished runs by status");
    let names: Vec<&str> = by_status.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["status:failed", "status:ok"]);
    // 120 records in one 10 s interval: 12/s, 720/min.
    let records = widget(&snap, "Records per minute by stage");
    assert_eq!(records.series[0].name, "records/min stage:extract");
    assert_eq!(records.series[0].points[0], (1_700_000_060, 720.0));
    let durations = widget(&snap, "Flow duration by flow (s)");
    assert_eq!(durations.series.len(), 4, "p50 and p95 of two flows");
    assert!(matches!(
        widget(&snap, "Recent failures (stages and runs)").shape,
        Shape::Logs { .. }
    ));
    assert!(widget(&snap, "RabbitMQ queue length").series.is_empty());
    let failures = &snap.monitors[0];
    assert_eq!(
        (failures.state, failures.value),
        (MonitorState::Alert, Some(1.0))
    );
    assert!(
        failures
            .reason
            .starts_with("1 > 0 (critical) over the last 5m"),
        "{}",
        failures.reason
    );
    assert_eq!(snap.monitors[1].state, MonitorState::NoData);
}

#[test]
fn template_variables_narrow_the_queries() {
    let chosen = BTreeMap::from([("pipeline".to_owned(), "a".to_owned())]);
    let snap = snapshot(&dashboard(), &[], &kept(RUNS), NOW, &chosen);
    // `$pipeline` does not apply to prefect.flow.duration (not tagged with it)...
    assert_eq!(
        widget(&snap, "Failed runs (%)").series[0].points,
        [(NOW, 20.0)]
    );
    // ...and does to pipeline.errors.
    assert!(widget(&snap, "Failed stage calls by stage")
        .series
        .is_empty());
    assert!(snap
        .template
        .contains(&("pipeline".to_owned(), "a".to_owned())));
    let chosen = BTreeMap::from([("pipeline".to_owned(), "b".to_owned())]);
    let snap = snapshot(&dashboard(), &[], &kept(RUNS), NOW, &chosen);
    let errors = widget(&snap, "Failed stage calls by stage");
    assert_eq!(errors.series[0].name, "stage:spark");
    assert_eq!(errors.series[0].points[0], (1_700_000_060, 1.0));
}

#[test]
fn a_request_needs_only_the_metrics_the_widgets_and_monitors_query() {
    let monitors = guide_monitors(&Routing::default());
    let names = metric_names(&dashboard(), &monitors);
    for queried in [
        "prefect.flow.duration",
        "pipeline.errors",
        "pipeline.records",
    ] {
        assert!(names.contains(queried), "{queried}: {names:?}");
    }
    for m in &monitors {
        assert!(names.contains(&m.query.metric.metric));
    }
    assert!(!names.contains("hostile.set"));
    // Evaluating over only those metrics gives the same snapshot as over
    // everything kept.
    let mut store = Store::new(Limits::new(60));
    store.ingest(format!("{RUNS}hostile.set:1|s\n").as_bytes(), NOW - 30);
    let (points, first) = store.points(&names);
    let narrow = Kept {
        points,
        first,
        window_secs: 3_600,
        agent: store.agent(),
    };
    let chosen = BTreeMap::new();
    let a = snapshot(&dashboard(), &monitors, &narrow, NOW, &chosen);
    let b = snapshot(&dashboard(), &monitors, &kept(RUNS), NOW, &chosen);
    assert_eq!(a.widgets, b.widgets);
    assert_eq!(a.monitors, b.monitors);
}

#[test]
fn a_value_past_f64_max_is_null_with_a_reason_that_says_so() {
    let huge = "pipeline.errors:1e308|c|#pipeline:b,stage:spark,error_type:Lost\n";
    let snap = snapshot(
        &dashboard(),
        &guide_monitors(&Routing::default()),
        &kept(&huge.repeat(3)),
        NOW,
        &BTreeMap::new(),
    );
    let api = crate::dev::api::monitors(&snap);
    let mut overflowed = 0;
    for (m, json) in snap.monitors.iter().zip(api.as_array().expect("an array")) {
        // The JSON value and the reason agree: a number in both, or in neither.
        assert_eq!(json["value"].as_f64(), m.value, "{json}");
        let reason = json["reason"].as_str().expect("a reason");
        assert!(!reason.contains("NaN") || m.value.is_none(), "{reason}");
        if reason.contains("not a finite number (inf)") {
            assert!(json["value"].is_null());
            overflowed += 1;
        }
    }
    assert!(overflowed > 0, "{:?}", snap.monitors);
}
