//! Checks that queries only use metrics and tag keys of the catalogue.

use pipeline_telemetry_catalogue::find;
use serde_json::Value;

use crate::parse::{parse_metric_query, parse_monitor_query, ParseQueryError};
use crate::query::{MetricQuery, TagFilter};

/// Why a query does not match the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The query does not parse.
    #[error("cannot parse {query:?}")]
    Parse {
        /// The query.
        query: String,
        /// The parser's error.
        source: ParseQueryError,
    },
    /// The metric is not in the catalogue.
    #[error("{query:?} uses {metric:?}, which is not in the metric catalogue")]
    UnknownMetric {
        /// The query.
        query: String,
        /// The metric name.
        metric: String,
    },
    /// The metric does not carry this tag key.
    #[error("{query:?} uses tag key {key:?}, which {metric:?} does not carry")]
    UnknownTagKey {
        /// The query.
        query: String,
        /// The metric name.
        metric: String,
        /// The tag key.
        key: String,
    },
    /// A `$variable` the dashboard does not define.
    #[error("{query:?} uses ${name}, which the dashboard does not define")]
    UnknownTemplateVariable {
        /// The query.
        query: String,
        /// The variable's name.
        name: String,
    },
}

/// Checks a parsed metric query. `template_variables` are `(name, tag key)`.
///
/// ```
/// use pipeline_telemetry_monitors::{check::check_metric_query, parse::parse_metric_query};
/// let ok = parse_metric_query("max:rabbitmq.queue.length{$env} by {queue}").unwrap();
/// assert!(check_metric_query(&ok, &[("env", "env")]).is_ok());
/// let bad = parse_metric_query("max:rabbitmq.queue.length{*} by {stage}").unwrap();
/// assert!(check_metric_query(&bad, &[]).is_err());
/// ```
///
/// # Errors
///
/// [`CheckError::UnknownMetric`] when the metric is not in the catalogue,
/// [`CheckError::UnknownTemplateVariable`] when a `$variable` is not in
/// `template_variables`, and [`CheckError::UnknownTagKey`] when a grouped or
/// filtered tag key (a variable counts as its tag key) is not one the
/// metric carries.
pub fn check_metric_query(
    query: &MetricQuery,
    template_variables: &[(&str, &str)],
) -> Result<(), CheckError> {
    let text = || query.to_string();
    let def = find(&query.metric).ok_or_else(|| CheckError::UnknownMetric {
        query: text(),
        metric: query.metric.clone(),
    })?;
    let mut keys: Vec<&str> = query.group_by.iter().map(String::as_str).collect();
    for filter in &query.filters {
        match filter {
            TagFilter::Tag { key, .. } => keys.push(key),
            TagFilter::Bare { tag, .. } => keys.push(tag),
            TagFilter::TemplateVariable(name) => {
                let (_, prefix) = template_variables
                    .iter()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| CheckError::UnknownTemplateVariable {
                        query: text(),
                        name: name.clone(),
                    })?;
                keys.push(prefix);
            }
            TagFilter::All => {}
        }
    }
    match keys.into_iter().find(|k| !def.has_tag(k)) {
        Some(key) => Err(CheckError::UnknownTagKey {
            query: text(),
            metric: def.name.to_owned(),
            key: key.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Checks a monitor query string.
///
/// # Errors
///
/// [`CheckError::Parse`] when the query does not parse, else the errors of
/// [`check_metric_query`] (a monitor defines no template variables).
pub fn check_monitor_query(query: &str) -> Result<(), CheckError> {
    let parsed = parse_monitor_query(query).map_err(|source| CheckError::Parse {
        query: query.to_owned(),
        source,
    })?;
    check_metric_query(&parsed.metric, &[])
}

/// Checks every metric query of a dashboard (any object with
/// `"data_source": "metrics"` and a `query`, at any depth) against the
/// catalogue and the dashboard's template variables. Returns the queries
/// checked.
///
/// # Errors
///
/// For the first query that fails: [`CheckError::Parse`] when it does not
/// parse, else the errors of [`check_metric_query`].
pub fn check_dashboard(dashboard: &Value) -> Result<Vec<String>, CheckError> {
    let variables: Vec<(&str, &str)> = dashboard["template_variables"]
        .as_array()
        .map(|vars| {
            vars.iter()
                .filter_map(|v| Some((v["name"].as_str()?, v["prefix"].as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let mut queries = Vec::new();
    collect_metric_queries(dashboard, &mut queries);
    for q in &queries {
        let parsed = parse_metric_query(q).map_err(|source| CheckError::Parse {
            query: q.clone(),
            source,
        })?;
        check_metric_query(&parsed, &variables)?;
    }
    Ok(queries)
}

/// Checks the `query` of every monitor in a monitors JSON array. Returns
/// the queries checked.
///
/// # Errors
///
/// The first error of [`check_monitor_query`].
pub fn check_monitors(monitors: &Value) -> Result<Vec<String>, CheckError> {
    let queries: Vec<String> = monitors
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|m| m["query"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    for q in &queries {
        check_monitor_query(q)?;
    }
    Ok(queries)
}

fn collect_metric_queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let (Some("metrics"), Some(q)) = (
                map.get("data_source").and_then(Value::as_str),
                map.get("query").and_then(Value::as_str),
            ) {
                out.push(q.to_owned());
            }
            map.values().for_each(|v| collect_metric_queries(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_metric_queries(v, out)),
        _ => {}
    }
}
