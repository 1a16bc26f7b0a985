//! The dashboard as Terraform, and what enables the percentiles its
//! widgets graph.
//!
//! - [`dashboard_terraform`]: a `datadog_dashboard_json` resource holding
//!   [`crate::dashboard::dashboard_json`] verbatim.
//! - [`percentile_metrics`]: the distributions whose percentiles
//!   (`p50:`, `p95:`) the dashboard graphs. Datadog computes percentiles of
//!   a distribution only once they are enabled for that metric
//!   (<https://docs.datadoghq.com/metrics/distributions/>);
//!   until then those widgets stay empty.
//! - [`percentiles_terraform`]: one `datadog_metric_tag_configuration`
//!   resource per such metric with `include_percentiles = true`, its
//!   queryable tags being every tag key the catalogue declares for it, the
//!   unified service tags and `host`.

use std::fmt::Write as _;

use pipeline_telemetry_catalogue::{MetricDef, MetricKind, UNIFIED_SERVICE_TAGS};
use serde_json::Value;

use crate::dashboard::{dashboard, dashboard_json};
use crate::parse::parse_metric_query;
use crate::query::SpaceAggregation;
use crate::terraform::{attributes, heredoc, list, quoted, HEADER};

/// The dashboard as a `datadog_dashboard_json` resource named `pipeline`.
///
/// ```
/// let tf = pipeline_telemetry_monitors::dashboard_tf::dashboard_terraform();
/// assert!(tf.contains("resource \"datadog_dashboard_json\" \"pipeline\" {"));
/// assert!(tf.contains("dashboard = <<EOT\n{\n"));
/// ```
pub fn dashboard_terraform() -> String {
    let mut out = String::from(HEADER);
    out.push_str("# The same dashboard as dashboards/pipeline.json.\n\n");
    out.push_str("resource \"datadog_dashboard_json\" \"pipeline\" {\n");
    let _ = writeln!(out, "  dashboard = {}", heredoc(&dashboard_json()));
    out.push_str("}\n");
    out
}

fn metric_queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let (Some("metrics"), Some(q)) = (
                map.get("data_source").and_then(Value::as_str),
                map.get("query").and_then(Value::as_str),
            ) {
                out.push(q.to_owned());
            }
            map.values().for_each(|v| metric_queries(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| metric_queries(v, out)),
        _ => {}
    }
}

/// The catalogue's distributions whose percentiles the dashboard graphs,
/// in catalogue order.
///
/// ```
/// let names: Vec<&str> = pipeline_telemetry_monitors::dashboard_tf::percentile_metrics()
///     .iter().map(|m| m.name).collect();
/// assert!(names.contains(&"pipeline.stage.duration"));
/// ```
pub fn percentile_metrics() -> Vec<&'static MetricDef> {
    let mut queries = Vec::new();
    metric_queries(&dashboard(), &mut queries);
    let with_percentiles: Vec<String> = queries
        .iter()
        .filter_map(|q| parse_metric_query(q).ok())
        .filter(|q| matches!(q.space, SpaceAggregation::Percentile(_)))
        .map(|q| q.metric)
        .collect();
    pipeline_telemetry_catalogue::ALL
        .iter()
        .copied()
        .filter(|m| m.kind == MetricKind::Distribution)
        .filter(|m| with_percentiles.iter().any(|n| n == m.name))
        .collect()
}

/// The queryable tag keys of a metric: its catalogue tags, the unified
/// service tags and `host`.
pub fn queryable_tags(def: &MetricDef) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = def.tags.to_vec();
    keys.extend_from_slice(UNIFIED_SERVICE_TAGS);
    keys.push("host");
    keys
}

/// One `datadog_metric_tag_configuration` per [`percentile_metrics`]
/// entry, with `include_percentiles = true`.
///
/// ```
/// let tf = pipeline_telemetry_monitors::dashboard_tf::percentiles_terraform();
/// assert!(tf.contains("metric_name         = \"pipeline.stage.duration\""));
/// assert!(tf.contains("include_percentiles = true"));
/// ```
pub fn percentiles_terraform() -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "# Enables percentiles (p50, p95, ...) of the distributions the dashboard graphs.\n\
         # A tag configuration also limits the queryable tags to the ones listed: add any\n\
         # tag of your own (from DD_TAGS) that you query these metrics by.\n",
    );
    for def in percentile_metrics() {
        out.push('\n');
        let _ = writeln!(
            out,
            "resource \"datadog_metric_tag_configuration\" {} {{",
            quoted(&def.name.replace('.', "_"))
        );
        attributes(
            &mut out,
            "  ",
            &[
                ("metric_name", quoted(def.name)),
                ("metric_type", quoted("distribution")),
                ("tags", list(&queryable_tags(def))),
                ("include_percentiles", "true".to_owned()),
            ],
        );
        out.push_str("}\n");
    }
    out
}
