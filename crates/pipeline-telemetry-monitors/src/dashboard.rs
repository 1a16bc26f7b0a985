//! The pipeline dashboard, in the Datadog dashboards API format.
//!
//! Every metric query is built from the catalogue, and scoped with the
//! template variables whose tag the metric actually carries (a queue
//! length has no `pipeline` tag, so `$pipeline` is not applied to it).

use pipeline_telemetry_catalogue::{
    tags, MetricDef, PIPELINE_ERRORS, PIPELINE_RECORDS, PIPELINE_RUNS, PIPELINE_STAGE_DURATION,
    PIPELINE_STAGE_RETRIES, PREFECT_FLOW_DURATION, RABBITMQ_QUEUE_LENGTH, SPARK_EXECUTORS_ACTIVE,
    SPARK_JOB_DURATION,
};
use serde_json::{json, Value};

use crate::query::{MetricQuery, SpaceAggregation, TypeModifier};

/// A dashboard template variable: `$name` filters on tag `prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateVariable {
    /// The variable's name (`$name` in queries).
    pub name: &'static str,
    /// The tag key it filters on.
    pub prefix: &'static str,
}

/// The dashboard's template variables: `pipeline`, `env`, `service`.
pub const TEMPLATE_VARIABLES: &[TemplateVariable] = &[
    TemplateVariable {
        name: tags::PIPELINE,
        prefix: tags::PIPELINE,
    },
    TemplateVariable {
        name: tags::ENV,
        prefix: tags::ENV,
    },
    TemplateVariable {
        name: tags::SERVICE,
        prefix: tags::SERVICE,
    },
];

/// The log search of the "recent failures" stream: the failed stages'
/// lines (see [`crate::logs::FAILED_LOGS_QUERY`]).
pub const FAILED_LOGS_QUERY: &str = crate::logs::FAILED_LOGS_QUERY;

/// The log stream's columns: the service, then attributes (`@`), which
/// are there with or without the log pipeline.
pub const LOG_COLUMNS: &[&str] = &[
    "service",
    "@pipeline",
    "@pipeline_id",
    "@stage",
    "@error.kind",
];

/// The dashboard's title.
pub const TITLE: &str = "Data pipelines";

/// `space:metric{$vars...}` with the template variables that apply to `def`.
fn scoped(space: SpaceAggregation, def: &MetricDef) -> MetricQuery {
    TEMPLATE_VARIABLES
        .iter()
        .filter(|v| def.has_tag(v.prefix))
        .fold(MetricQuery::new(space, def.name), |q, v| {
            q.template_variable(v.name)
        })
}

fn p(n: f64) -> SpaceAggregation {
    SpaceAggregation::Percentile(n)
}

/// A timeseries widget; `formulas` are `(formula, alias)`.
fn timeseries(
    title: &str,
    queries: &[MetricQuery],
    formulas: &[(&str, &str)],
    display: &str,
) -> Value {
    let queries: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| json!({"data_source": "metrics", "name": format!("query{}", i + 1), "query": q.to_string()}))
        .collect();
    let formulas: Vec<Value> = formulas
        .iter()
        .map(|(f, alias)| {
            if alias.is_empty() {
                json!({"formula": f})
            } else {
                json!({"formula": f, "alias": alias})
            }
        })
        .collect();
    json!({"definition": {
        "type": "timeseries",
        "title": title,
        "show_legend": true,
        "legend_layout": "auto",
        "requests": [{
            "response_format": "timeseries",
            "queries": queries,
            "formulas": formulas,
            "display_type": display,
        }],
    }})
}

fn percentiles(title: &str, def: &MetricDef, by: &str) -> Value {
    timeseries(
        title,
        &[scoped(p(50.0), def).by(by), scoped(p(95.0), def).by(by)],
        &[("query1", "p50"), ("query2", "p95")],
        "line",
    )
}

fn group(title: &str, widgets: Vec<Value>) -> Value {
    json!({"definition": {"type": "group", "title": title, "layout_type": "ordered", "widgets": widgets}})
}

/// The `status` of a failed run's `prefect.flow.duration`.
const FAILED_RUN: &str = "failed";

/// `count:prefect.flow.duration{status:failed}` and `{*}`: failed runs and
/// all runs (a distribution's `count:` is its number of samples, one per
/// finished run).
fn runs_and_failed_runs() -> (MetricQuery, MetricQuery) {
    let count = SpaceAggregation::Count;
    let failed = scoped(count, &PREFECT_FLOW_DURATION).filter(tags::STATUS, FAILED_RUN);
    (failed, scoped(count, &PREFECT_FLOW_DURATION))
}

fn failure_rate() -> Value {
    let (failed, all) = runs_and_failed_runs();
    json!({"definition": {
        "type": "query_value",
        "title": "Failed runs (%)",
        "precision": 1,
        "autoscale": true,
        "custom_unit": "%",
        "requests": [{
            "response_format": "scalar",
            "queries": [
                {"data_source": "metrics", "name": "query1", "query": failed.to_string(), "aggregator": "sum"},
                {"data_source": "metrics", "name": "query2", "query": all.to_string(), "aggregator": "sum"},
            ],
            "formulas": [{"formula": "100 * query1 / query2"}],
        }],
    }})
}

fn recent_errors() -> Value {
    json!({"definition": {
        "type": "log_stream",
        "title": "Recent failures (stages and runs)",
        "query": FAILED_LOGS_QUERY,
        "indexes": [],
        "columns": LOG_COLUMNS,
        "show_date_column": true,
        "show_message_column": true,
        "message_display": "expanded-md",
        "sort": {"column": "time", "order": "desc"},
    }})
}

/// The dashboard as a JSON value (`POST /api/v1/dashboard` body).
///
/// ```
/// let d = pipeline_telemetry_monitors::dashboard::dashboard();
/// assert_eq!(d["layout_type"], "ordered");
/// assert_eq!(d["template_variables"][0]["name"], "pipeline");
/// ```
pub fn dashboard() -> Value {
    let sum = SpaceAggregation::Sum;
    let durations = group(
        "Durations",
        vec![
            percentiles(
                "Stage duration by stage (s)",
                &PIPELINE_STAGE_DURATION,
                tags::STAGE,
            ),
            percentiles(
                "Flow duration by flow (s)",
                &PREFECT_FLOW_DURATION,
                tags::FLOW,
            ),
        ],
    );
    let errors_by_stage = scoped(sum, &PIPELINE_ERRORS)
        .by(tags::STAGE)
        .with_modifier(TypeModifier::AsCount);
    // One point per retry (an attempt failed and another followed); a
    // stage that fails for good also shows in the failed stage calls.
    let retries_by_stage = scoped(sum, &PIPELINE_STAGE_RETRIES)
        .by(tags::STAGE)
        .with_modifier(TypeModifier::AsCount);
    let (failed, all) = runs_and_failed_runs();
    let finished_by_status =
        scoped(SpaceAggregation::Count, &PREFECT_FLOW_DURATION).by(tags::STATUS);
    let failures = group(
        "Failures",
        vec![
            failure_rate(),
            timeseries(
                "Failed runs over time (%)",
                &[failed, all],
                &[("100 * query1 / query2", "failed runs")],
                "line",
            ),
            timeseries(
                "Finished runs by status",
                &[finished_by_status],
                &[("query1", "")],
                "bars",
            ),
            timeseries(
                "Failed stage calls by stage",
                &[errors_by_stage],
                &[("query1", "")],
                "bars",
            ),
            timeseries(
                "Stage retries",
                &[retries_by_stage],
                &[("query1", "retries")],
                "bars",
            ),
            recent_errors(),
        ],
    );
    let records = scoped(sum, &PIPELINE_RECORDS)
        .by(tags::STAGE)
        .with_modifier(TypeModifier::AsRate);
    let runs_by_pipeline = scoped(sum, &PIPELINE_RUNS)
        .by(tags::PIPELINE)
        .with_modifier(TypeModifier::AsCount);
    let throughput = group(
        "Throughput",
        vec![
            timeseries(
                "Records per minute by stage",
                &[records],
                &[("per_minute(query1)", "records/min")],
                "line",
            ),
            timeseries(
                "Pipeline runs",
                &[runs_by_pipeline],
                &[("query1", "")],
                "bars",
            ),
        ],
    );
    let spark = group(
        "Spark",
        vec![
            timeseries(
                "Active Spark executors",
                &[scoped(sum, &SPARK_EXECUTORS_ACTIVE).by(tags::APP_NAME)],
                &[("query1", "")],
                "line",
            ),
            percentiles(
                "Spark job duration by job (s)",
                &SPARK_JOB_DURATION,
                tags::JOB,
            ),
        ],
    );
    let rabbitmq = group(
        "RabbitMQ",
        vec![timeseries(
            "RabbitMQ queue length",
            &[scoped(SpaceAggregation::Max, &RABBITMQ_QUEUE_LENGTH).by(tags::QUEUE)],
            &[("query1", "")],
            "line",
        )],
    );
    let variables: Vec<Value> = TEMPLATE_VARIABLES
        .iter()
        .map(
            |v| json!({"name": v.name, "prefix": v.prefix, "available_values": [], "default": "*"}),
        )
        .collect();
    json!({
        "title": TITLE,
        "description": "Flow and stage durations, failures, throughput, Spark and RabbitMQ for pipelines \
                        instrumented with pipeline-telemetry. Generated from its metric catalogue.",
        "layout_type": "ordered",
        "reflow_type": "auto",
        "template_variables": variables,
        "widgets": [durations, failures, throughput, spark, rabbitmq],
        "notify_list": [],
    })
}

/// The dashboard, pretty-printed, ending with a newline.
pub fn dashboard_json() -> String {
    format!("{:#}\n", dashboard())
}
