//! Tests of the query parser.

use super::*;
use crate::query::{Evaluation, TimeAggregation, TypeModifier};

const ROUND_TRIPS: &[&str] = &[
    "sum(last_5m):sum:pipeline.errors{*} > 0",
    "avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5",
    "change(last_10m):avg:pipeline.runs{*} < 1",
    "pct_change(avg(last_5m),5m_ago):avg:pipeline.runs{env:prod,!stage:dbt} by {pipeline} <= -50",
    "percentile(last_15m):p95:spark.job.duration{job:etl*} by {job,env} >= 2.5",
    "sum(last_1h):sum:pipeline.errors{*} by {stage}.as_count() != 3",
];

#[test]
fn round_trips() {
    for q in ROUND_TRIPS {
        let parsed = parse_monitor_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!(parsed.to_string(), *q);
    }
}

#[test]
fn change_shorthand_compares_with_the_previous_window() {
    let q = parse_monitor_query("change(last_10m):avg:pipeline.runs{*} < 1").expect("parses");
    let Evaluation::Change {
        window,
        shift,
        aggregation,
        ..
    } = q.evaluation
    else {
        panic!("not a change query")
    };
    assert_eq!(
        (window.seconds(), shift.seconds(), aggregation),
        (600, 600, TimeAggregation::Avg)
    );
}

#[test]
fn modifier_may_come_before_by() {
    let q = parse_metric_query("sum:pipeline.records{$env}.as_rate() by {stage}").expect("parses");
    assert_eq!(q.modifier, Some(TypeModifier::AsRate));
    assert_eq!(q.group_by, vec!["stage"]);
}

#[test]
fn rejects_what_it_does_not_understand() {
    for bad in [
        "",
        "sum(last_5m)",
        "median(last_5m):sum:a{*} > 0",
        "sum(last_5x):sum:a{*} > 0",
        "sum(last_5m):sum:a{*} 0",
        "sum(last_5m):sum:a{*} > zero",
        "sum(last_5m):sum:a > 0",
        "sum(last_5m):sum:a{env:a AND stage:b} > 0",
        "sum(last_5m):abs(sum:a{*}) > 0",
        "sum(last_5m):sum:a{*}.rollup(sum) > 0",
        "change(avg(last_5m)):avg:a{*} > 0",
    ] {
        assert!(parse_monitor_query(bad).is_err(), "{bad}");
    }
}
