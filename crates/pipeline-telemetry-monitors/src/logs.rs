//! The Datadog log pipeline for pipeline-telemetry's JSON log lines, and
//! the log searches the guide asks for.
//!
//! Datadog's JSON preprocessing already takes each line's service, source,
//! status, date and trace from the keys the JSON log layer writes
//! ([`pipeline_telemetry_catalogue::logs`]). What it cannot do is make
//! `pipeline_id:42` (a *tag* search, no `@`) find a run's lines: that needs
//! a pipeline whose attribute remappers copy `pipeline_id`, `pipeline`,
//! `stage` and `outcome` into tags
//! (<https://docs.datadoghq.com/logs/log_configuration/processors/remapper/>).
//! [`log_pipeline`] is that pipeline as a Logs Pipelines API body
//! (`POST /api/v1/logs/config/pipelines`), and [`log_pipeline_terraform`]
//! the same as a `datadog_logs_custom_pipeline` resource.
//!
//! ```
//! let body = pipeline_telemetry_monitors::logs::log_pipeline();
//! assert_eq!(body["filter"]["query"], "source:pipeline");
//! assert_eq!(body["processors"][1]["type"], "attribute-remapper");
//! assert_eq!(body["processors"][1]["sources"][0], "pipeline_id");
//! assert_eq!(body["processors"][1]["target_type"], "tag");
//! ```

use std::fmt::Write as _;

use pipeline_telemetry_catalogue::logs;
use serde_json::{json, Value};

use crate::terraform::{attributes, list, quoted, HEADER};

/// The pipeline's name in Datadog.
pub const PIPELINE_NAME: &str = "pipeline-telemetry JSON logs";

/// The pipeline's filter: every line the JSON log layer writes (its
/// `ddsource` sets the source during preprocessing, before any pipeline).
pub const FILTER_QUERY: &str = "source:pipeline";

/// The failure lines (a failed stage call's, and a failed run's): what the
/// guide's `status:failed source:pipeline` means. Works with or without
/// the log pipeline (`@` searches the attribute). `status:failed` itself can never match: Datadog maps a
/// status starting with `f` to `emergency`.
pub const FAILED_LOGS_QUERY: &str = "source:pipeline @outcome:failed";

/// The same search once the log pipeline runs (`outcome` is a tag).
pub const FAILED_LOGS_TAG_QUERY: &str = "source:pipeline outcome:failed";

/// The guide's `pipeline_id:42 service:prefect` for a run and a service:
/// works as written once the log pipeline runs.
///
/// ```
/// assert_eq!(pipeline_telemetry_monitors::logs::run_logs_query("42", "prefect"), "pipeline_id:42 service:prefect");
/// ```
pub fn run_logs_query(pipeline_id: &str, service: &str) -> String {
    format!(
        "{}:{pipeline_id} {}:{service}",
        pipeline_telemetry_catalogue::tags::PIPELINE_ID,
        logs::SERVICE_KEY
    )
}

/// The same search without the log pipeline (`@` searches the attribute).
///
/// ```
/// assert_eq!(pipeline_telemetry_monitors::logs::run_logs_attribute_query("42", "prefect"), "@pipeline_id:42 service:prefect");
/// ```
pub fn run_logs_attribute_query(pipeline_id: &str, service: &str) -> String {
    format!("@{}", run_logs_query(pipeline_id, service))
}

/// The service remapper's sources, in order.
pub const SERVICE_SOURCES: &[&str] = &[logs::SERVICE_KEY, logs::dd::SERVICE];

fn remapper_name(attribute: &str, tag: &str) -> String {
    format!("Tag {tag} from the {attribute} attribute")
}

/// The pipeline as a Logs Pipelines API body.
pub fn log_pipeline() -> Value {
    let mut processors = vec![json!({
        "type": "service-remapper",
        "name": "Service from service, else dd.service",
        "is_enabled": true,
        "sources": SERVICE_SOURCES,
    })];
    for (attribute, tag) in logs::ATTRIBUTES_AS_TAGS {
        processors.push(json!({
            "type": "attribute-remapper",
            "name": remapper_name(attribute, tag),
            "is_enabled": true,
            "source_type": "attribute",
            "sources": [attribute],
            "target": tag,
            "target_type": "tag",
            "preserve_source": true,
            "override_on_conflict": false,
        }));
    }
    json!({
        "name": PIPELINE_NAME,
        "is_enabled": true,
        "filter": {"query": FILTER_QUERY},
        "processors": processors,
    })
}

/// [`log_pipeline`], pretty-printed, ending with a newline.
pub fn log_pipeline_json() -> String {
    format!("{:#}\n", log_pipeline())
}

/// The pipeline as a `datadog_logs_custom_pipeline` resource named
/// `pipeline_telemetry`.
///
/// ```
/// let tf = pipeline_telemetry_monitors::logs::log_pipeline_terraform();
/// assert!(tf.contains("resource \"datadog_logs_custom_pipeline\" \"pipeline_telemetry\" {"));
/// assert!(tf.contains("target_type          = \"tag\""));
/// ```
pub fn log_pipeline_terraform() -> String {
    let mut out = String::from(HEADER);
    out.push_str(
        "# Add the pipeline to your datadog_logs_pipeline_order resource if you manage one.\n\n",
    );
    out.push_str("resource \"datadog_logs_custom_pipeline\" \"pipeline_telemetry\" {\n");
    attributes(
        &mut out,
        "  ",
        &[
            ("name", quoted(PIPELINE_NAME)),
            ("is_enabled", "true".to_owned()),
        ],
    );
    out.push_str("\n  filter {\n");
    attributes(&mut out, "    ", &[("query", quoted(FILTER_QUERY))]);
    out.push_str("  }\n");
    out.push_str("\n  processor {\n    service_remapper {\n");
    attributes(
        &mut out,
        "      ",
        &[
            ("name", quoted("Service from service, else dd.service")),
            ("is_enabled", "true".to_owned()),
            ("sources", list(SERVICE_SOURCES)),
        ],
    );
    out.push_str("    }\n  }\n");
    for (attribute, tag) in logs::ATTRIBUTES_AS_TAGS {
        out.push_str("\n  processor {\n    attribute_remapper {\n");
        attributes(
            &mut out,
            "      ",
            &[
                ("name", quoted(&remapper_name(attribute, tag))),
                ("is_enabled", "true".to_owned()),
                ("source_type", quoted("attribute")),
                ("sources", list(&[attribute])),
                ("target", quoted(tag)),
                ("target_type", quoted("tag")),
                ("preserve_source", "true".to_owned()),
                ("override_on_conflict", "false".to_owned()),
            ],
        );
        out.push_str("    }\n  }\n");
    }
    let _ = writeln!(out, "}}");
    out
}
