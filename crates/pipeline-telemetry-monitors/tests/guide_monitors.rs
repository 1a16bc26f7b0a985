//! The guide's three monitors, firing and not firing on realistic runs.

use pipeline_telemetry_catalogue::{
    status, tags, PIPELINE_ERRORS, PIPELINE_RECORDS, PIPELINE_RUNS, PIPELINE_STAGE_DURATION,
    PREFECT_FLOW_DURATION,
};
use pipeline_telemetry_monitors::capture::parse_capture;
use pipeline_telemetry_monitors::guide::{
    as_written_no_pipelines_running, guide_monitors, no_pipelines_running, pipeline_failures,
    stage_duration_spike, Routing,
};
use pipeline_telemetry_monitors::{Monitor, MonitorState, Point, PointKind};

const T0: u64 = 1_700_000_000;
const MIN: u64 = 60;

/// What one run of pipeline `etl` emits: a run when it starts, each
/// stage's duration (and records, or one error) when the stage ends, and
/// the flow duration with the run's outcome when the run ends.
fn run(start: u64, stages: &[(&str, f64, bool)]) -> Vec<Point> {
    let mut points =
        vec![Point::count(start, PIPELINE_RUNS.name, 1.0).with_tag(tags::PIPELINE, "etl")];
    let mut t = start as f64;
    for (stage, secs, ok) in stages {
        t += secs;
        let end = t as u64;
        let st = if *ok { status::OK } else { status::ERROR };
        points.push(
            Point::distribution(end, PIPELINE_STAGE_DURATION.name, *secs)
                .with_tag(tags::PIPELINE, "etl")
                .with_tag(tags::STAGE, stage)
                .with_tag(tags::STATUS, st),
        );
        if *ok {
            points.push(
                Point::count(end, PIPELINE_RECORDS.name, 1_000.0)
                    .with_tag(tags::PIPELINE, "etl")
                    .with_tag(tags::STAGE, stage),
            );
        } else {
            points.push(
                Point::count(end, PIPELINE_ERRORS.name, 1.0)
                    .with_tag(tags::PIPELINE, "etl")
                    .with_tag(tags::STAGE, stage)
                    .with_tag(tags::ERROR_TYPE, "Timeout"),
            );
            break;
        }
    }
    let failed = stages.iter().any(|(_, _, ok)| !ok);
    points.push(
        Point::distribution(t as u64, PREFECT_FLOW_DURATION.name, t - start as f64)
            .with_tag(tags::FLOW, "etl")
            .with_tag(tags::STATUS, if failed { "failed" } else { status::OK }),
    );
    points
}

fn healthy(start: u64, spark_secs: f64) -> Vec<Point> {
    run(
        start,
        &[
            ("extract", 4.0, true),
            ("dbt", 20.0, true),
            ("spark", spark_secs, true),
            ("load", 2.0, true),
        ],
    )
}

/// One healthy run per minute from `from` for `minutes` minutes.
fn every_minute(from: u64, minutes: u64, spark_secs: f64) -> Vec<Point> {
    (0..minutes)
        .flat_map(|i| healthy(from + i * MIN, spark_secs))
        .collect()
}

fn assert_state(
    monitor: &Monitor,
    points: &[Point],
    now: u64,
    expected: MonitorState,
    notifies: bool,
) {
    let state = monitor.evaluate(points, now);
    assert_eq!(
        state,
        expected,
        "{} at now={now}: {:?}",
        monitor.name,
        monitor.evaluate_groups(points, now)
    );
    assert_eq!(
        monitor.notifies(state),
        notifies,
        "{} in {state}",
        monitor.name
    );
}

#[test]
fn queries_are_the_guide_s_exactly() {
    let queries: Vec<String> = guide_monitors(&Routing::default())
        .iter()
        .map(|m| m.query.to_string())
        .collect();
    assert_eq!(
        queries,
        [
            "sum(last_5m):sum:pipeline.errors{*}.as_count() > 0",
            "avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5",
            "sum(last_10m):sum:pipeline.runs{*}.as_count() < 1",
        ]
    );
    assert_eq!(
        as_written_no_pipelines_running(&Routing::default())
            .query
            .to_string(),
        "change(last_10m):avg:pipeline.runs{*} < 1"
    );
}

#[test]
fn pipeline_failures_reports_counts_not_rates() {
    // Two failed stages in the last five minutes: {{value}} is 2, not the
    // per-second rate 0.2 the query without .as_count() would read.
    let monitor = pipeline_failures(&Routing::default());
    let mut points = every_minute(T0, 10, 3.0);
    points.extend(run(T0 + 10 * MIN, &[("extract", 4.0, false)]));
    points.extend(run(T0 + 11 * MIN, &[("dbt", 4.0, false)]));
    let groups = monitor.evaluate_groups(&points, T0 + 13 * MIN);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].value, Some(2.0), "{groups:?}");
    assert_eq!(groups[0].state, MonitorState::Alert);
}

#[test]
fn pipeline_failures_alerts_on_a_failing_stage() {
    let monitor = pipeline_failures(&Routing::default());
    let mut points = every_minute(T0, 10, 3.0);
    let failing_at = T0 + 10 * MIN;
    points.extend(run(
        failing_at,
        &[
            ("extract", 4.0, true),
            ("dbt", 20.0, true),
            ("spark", 30.0, false),
        ],
    ));
    assert_state(
        &monitor,
        &points,
        failing_at + MIN,
        MonitorState::Alert,
        true,
    );
    // Still within five minutes of the failure.
    assert_state(
        &monitor,
        &points,
        failing_at + 5 * MIN,
        MonitorState::Alert,
        true,
    );
}

#[test]
fn pipeline_failures_recovers_and_stays_quiet_without_errors() {
    let monitor = pipeline_failures(&Routing::default());
    // Never an error: the metric does not exist, which Datadog shows as
    // NO DATA; the monitor does not notify on it.
    let healthy_only = every_minute(T0, 30, 3.0);
    assert_state(
        &monitor,
        &healthy_only,
        T0 + 30 * MIN,
        MonitorState::NoData,
        false,
    );

    // An error seven minutes ago: the Agent still flushes zeros, so the
    // last five minutes sum to 0 (recovered).
    let mut points = every_minute(T0, 30, 3.0);
    points.extend(run(T0 + 20 * MIN, &[("extract", 4.0, false)]));
    assert_state(&monitor, &points, T0 + 27 * MIN, MonitorState::Ok, false);
    // Once the counter expired the series stops: NO DATA, no notification.
    assert_state(
        &monitor,
        &points,
        T0 + 40 * MIN,
        MonitorState::NoData,
        false,
    );
}

#[test]
fn stage_duration_spike_alerts_at_7_s_average_only() {
    let monitor = stage_duration_spike(&Routing::default());
    let now = T0 + 20 * MIN;
    assert_state(
        &monitor,
        &every_minute(T0, 20, 7.0),
        now,
        MonitorState::Alert,
        true,
    );
    assert_state(
        &monitor,
        &every_minute(T0, 20, 3.0),
        now,
        MonitorState::Ok,
        false,
    );
    assert_state(
        &monitor,
        &every_minute(T0, 20, 4.5),
        now,
        MonitorState::Warn,
        true,
    );
}

#[test]
fn stage_duration_spike_averages_the_window_and_ignores_other_stages() {
    let monitor = stage_duration_spike(&Routing::default());
    // Slow 9 s spark runs 15 minutes ago have left the window; dbt takes 20 s.
    let mut points = every_minute(T0, 10, 9.0);
    points.extend(every_minute(T0 + 10 * MIN, 15, 3.0));
    assert_state(&monitor, &points, T0 + 25 * MIN, MonitorState::Ok, false);
    // Half of the last ten minutes at 9 s, half at 3 s: 6 s on average.
    let mut points = every_minute(T0, 15, 3.0);
    points.extend(every_minute(T0 + 15 * MIN, 5, 9.0));
    assert_state(&monitor, &points, T0 + 20 * MIN, MonitorState::Alert, true);
}

#[test]
fn stage_duration_spike_sees_nothing_from_histograms() {
    let monitor = stage_duration_spike(&Routing::default());
    let points: Vec<Point> = every_minute(T0, 20, 7.0)
        .into_iter()
        .map(|p| {
            if p.kind == PointKind::Distribution {
                p.with_kind(PointKind::Histogram)
            } else {
                p
            }
        })
        .collect::<Vec<_>>();
    assert_state(
        &monitor,
        &points,
        T0 + 20 * MIN,
        MonitorState::NoData,
        false,
    );
}

#[test]
fn no_pipelines_running_alerts_after_10_minutes_without_a_run() {
    let monitor = no_pipelines_running(&Routing::default());
    let points = every_minute(T0, 30, 3.0);
    let last_run = T0 + 29 * MIN;
    assert_state(
        &monitor,
        &points,
        last_run + 10 * MIN,
        MonitorState::Alert,
        true,
    );
    // Past the Agent's counter expiry and the whole window: NO DATA, which
    // this monitor notifies.
    assert_state(
        &monitor,
        &points,
        last_run + 25 * MIN,
        MonitorState::NoData,
        true,
    );
}

#[test]
fn no_pipelines_running_is_quiet_while_runs_increase() {
    let monitor = no_pipelines_running(&Routing::default());
    // One run a minute, then a backfill starting 20 runs every 10 s.
    let mut points = every_minute(T0, 20, 3.0);
    let backfill = T0 + 20 * MIN;
    for i in 0..60 {
        points.extend((0..20).flat_map(|_| run(backfill + i * 10, &[])));
    }
    assert_state(
        &monitor,
        &points,
        backfill + 10 * MIN - 1,
        MonitorState::Ok,
        false,
    );
}

#[test]
fn as_written_no_pipelines_running_also_fires_on_a_steady_run_rate() {
    // change() compares with ten minutes earlier: an unchanged rate is a
    // change of 0, which is < 1. This is why the guide's query as written
    // is not shipped (see docs/dashboards-and-monitors.md).
    let monitor = as_written_no_pipelines_running(&Routing::default());
    let points = every_minute(T0, 30, 3.0);
    assert_state(&monitor, &points, T0 + 30 * MIN, MonitorState::Alert, true);
}

#[test]
fn a_replayed_capture_evaluates_like_synthetic_points() {
    let capture = "\
        # a failing spark stage\n\
        1700000000 pipeline.runs:1|c|#pipeline:etl\n\
        1700000030 pipeline.stage.duration:7.5|d|#pipeline:etl,stage:spark,status:error\n\
        1700000030 pipeline.errors:1|c|#pipeline:etl,stage:spark,error_type:Timeout\n";
    let points = parse_capture(capture, 0).expect("valid capture");
    let now = T0 + 60;
    let states: Vec<MonitorState> = guide_monitors(&Routing::default())
        .iter()
        .map(|m| m.evaluate(&points, now))
        .collect();
    assert_eq!(
        states,
        [MonitorState::Alert, MonitorState::Alert, MonitorState::Ok]
    );
}

#[test]
fn no_pipelines_running_is_quiet_on_a_steady_healthy_stream() {
    // One run a minute for an hour: every evaluation minute is OK.
    let monitor = no_pipelines_running(&Routing::default());
    let points = every_minute(T0, 60, 3.0);
    for minute in 1..=60 {
        assert_state(
            &monitor,
            &points,
            T0 + minute * MIN,
            MonitorState::Ok,
            false,
        );
    }
    // A run every 9 minutes is slow but steady: still OK.
    let sparse: Vec<Point> = (0..7)
        .flat_map(|i| healthy(T0 + i * 9 * MIN, 3.0))
        .collect();
    assert_state(&monitor, &sparse, T0 + 60 * MIN, MonitorState::Ok, false);
}

/// The Agent counts a distribution value sent with `|@rate` as
/// `int64(1 / rate)` samples (`quantile.Agent.Insert`; the dogstatsd crate's
/// `tests/agent_parser` ports it): `count:` and the average weigh it so.
#[test]
fn sampled_distribution_values_weigh_as_the_agent_counts_them() {
    use pipeline_telemetry_dogstatsd::parse::parse_datagram;
    use pipeline_telemetry_monitors::parse::parse_metric_query;
    use pipeline_telemetry_monitors::point::points_from_parsed;
    use pipeline_telemetry_monitors::AgentModel;

    let lines = parse_datagram(
        "prefect.flow.duration:10|d|@0.5|#status:failed\n\
         prefect.flow.duration:1:1|d|#status:ok\n\
         prefect.flow.duration:4|d|@0.3|#status:ok\n",
    )
    .expect("parses");
    let points = points_from_parsed(&lines, 1_000).expect("points");
    let agent = AgentModel::default();
    let value = |q: &str| {
        let graph = parse_metric_query(q)
            .expect("query")
            .timeseries(&points, 900, 1_000, &agent);
        assert_eq!(graph.len(), 1, "{q}: {graph:?}");
        graph[0].points[0].1
    };
    // 2 (10 at @0.5) + 2 (1 and 1) + 3 (4 at @0.3: int64(3.33...)).
    assert_eq!(value("count:prefect.flow.duration{*}"), 7.0);
    assert_eq!(value("count:prefect.flow.duration{status:failed}"), 2.0);
    assert_eq!(
        value("avg:prefect.flow.duration{*}"),
        (20.0 + 2.0 + 12.0) / 7.0
    );
    assert_eq!(value("p50:prefect.flow.duration{*}"), 4.0);
}
