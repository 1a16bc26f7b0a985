//! A small model of what Datadog does with one JSON log line that the Agent
//! tails from a file (no `service`/`source` in the Agent's log config), and
//! of the log search syntax the guide uses. Each rule cites the page it
//! follows; nothing here is taken from the code under test.
//!
//! 1. JSON preprocessing, before any pipeline
//!    (<https://docs.datadoghq.com/logs/log_configuration/pipelines/#preprocessing>):
//!    - service: the first of `service`, `syslog.appname`;
//!    - source: `ddsource`;
//!    - status: the first of `status`, `severity`, `level`,
//!      `syslog.severity`, mapped like the status remapper does
//!      (<https://docs.datadoghq.com/logs/log_configuration/processors/log_status_remapper/>):
//!      `emerg…`/`f…` → emergency, `a…` → alert, `c…` → critical, `err…` →
//!      error, `w…` → warning, `n…` → notice, `i…` → info, `d…`/`t…`/`v…` →
//!      debug, `o…`/`s…`/`ok`/`success` → ok, anything else → info;
//!    - every other key stays an attribute (`@key`).
//! 2. Custom pipelines (<https://docs.datadoghq.com/logs/log_configuration/pipelines/>):
//!    a log matching the pipeline's filter goes through its processors in
//!    order: a `service-remapper` sets the service from the first of its
//!    sources present
//!    (<https://docs.datadoghq.com/logs/log_configuration/processors/service_remapper/>);
//!    an `attribute-remapper` with `target_type: tag` adds the tag
//!    `target:value`, keeps the attribute with `preserve_source`, and leaves
//!    an existing tag alone without `override_on_conflict`
//!    (<https://docs.datadoghq.com/logs/log_configuration/processors/remapper/>).
//!    Tags are lower-cased
//!    (<https://docs.datadoghq.com/getting_started/tagging/#define-tags>).
//! 3. Search (<https://docs.datadoghq.com/logs/explorer/search_syntax/>):
//!    terms separated by spaces are ANDed; `@key:value` matches the
//!    attribute `key`; `key:value` without `@` matches the reserved
//!    attributes `service`, `source`, `status`, `host`, else the *tag*
//!    `key:value`. Values are compared exactly (no wildcards are used here).

use std::collections::BTreeMap;

use serde_json::Value;

/// One log as Datadog stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Log {
    pub service: Option<String>,
    pub source: Option<String>,
    pub status: &'static str,
    pub tags: Vec<String>,
    pub attributes: BTreeMap<String, Value>,
    /// The raw line, for messages.
    pub raw: String,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The status remapper's mapping of one value.
pub(crate) fn map_status(value: &str) -> &'static str {
    let v = value.to_ascii_lowercase();
    if let Ok(n) = v.parse::<u8>() {
        return match n {
            0 => "emergency",
            1 => "alert",
            2 => "critical",
            3 => "error",
            4 => "warning",
            5 => "notice",
            6 => "info",
            _ => "debug",
        };
    }
    let starts = |p: &str| v.starts_with(p);
    if starts("emerg") || starts("f") {
        "emergency"
    } else if starts("a") {
        "alert"
    } else if starts("c") {
        "critical"
    } else if starts("err") {
        "error"
    } else if starts("w") {
        "warning"
    } else if starts("n") {
        "notice"
    } else if starts("i") {
        "info"
    } else if starts("d") || starts("t") || starts("v") {
        "debug"
    } else if starts("o") || starts("s") {
        "ok"
    } else {
        "info"
    }
}

/// Step 1: JSON preprocessing of one tailed line.
pub(crate) fn preprocess(line: &str) -> Option<Log> {
    let Value::Object(map) = serde_json::from_str::<Value>(line).ok()? else {
        return None;
    };
    let first = |keys: &[&str]| keys.iter().find_map(|k| map.get(*k).and_then(text));
    let status = first(&["status", "severity", "level", "syslog.severity"])
        .map_or("info", |s| map_status(&s));
    Some(Log {
        service: first(&["service", "syslog.appname"]),
        source: first(&["ddsource"]),
        status,
        tags: Vec::new(),
        attributes: map.into_iter().collect(),
        raw: line.to_owned(),
    })
}

/// Step 2: one custom pipeline (a Logs Pipelines API body).
pub(crate) fn apply_pipeline(log: &mut Log, pipeline: &Value) {
    let filter = pipeline["filter"]["query"].as_str().unwrap_or("*");
    if pipeline["is_enabled"] != true || !matches(log, filter) {
        return;
    }
    for p in pipeline["processors"].as_array().into_iter().flatten() {
        if p["is_enabled"] != true {
            continue;
        }
        let sources: Vec<&str> = p["sources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        match p["type"].as_str() {
            Some("service-remapper") => {
                if let Some(v) = sources
                    .iter()
                    .find_map(|s| log.attributes.get(*s).and_then(text))
                {
                    log.service = Some(v);
                }
            }
            Some("attribute-remapper") => {
                assert_eq!(
                    p["source_type"], "attribute",
                    "only attributes are modelled"
                );
                assert_eq!(p["target_type"], "tag", "only tag targets are modelled");
                let target = p["target"].as_str().unwrap_or_default();
                let Some(value) = sources
                    .iter()
                    .find_map(|s| log.attributes.get(*s).and_then(text))
                else {
                    continue;
                };
                let present = log
                    .tags
                    .iter()
                    .any(|t| t.split_once(':').is_some_and(|(k, _)| k == target));
                if present && p["override_on_conflict"] != true {
                    continue;
                }
                log.tags.retain(|t| !t.starts_with(&format!("{target}:")));
                log.tags.push(format!("{target}:{value}").to_lowercase());
                if p["preserve_source"] != true {
                    for s in &sources {
                        log.attributes.remove(*s);
                    }
                }
            }
            other => panic!("processor {other:?} is not modelled"),
        }
    }
}

/// Step 3: whether `query` finds `log`.
pub(crate) fn matches(log: &Log, query: &str) -> bool {
    query.split_whitespace().all(|term| {
        if term == "*" {
            return true;
        }
        let Some((key, value)) = term.split_once(':') else {
            panic!("free-text terms are not modelled: {term}");
        };
        if let Some(attr) = key.strip_prefix('@') {
            return log.attributes.get(attr).and_then(text).as_deref() == Some(value);
        }
        match key {
            "service" => log.service.as_deref() == Some(value),
            "source" => log.source.as_deref() == Some(value),
            "status" => log.status == value,
            "host" => false,
            _ => log.tags.iter().any(|t| *t == format!("{key}:{value}")),
        }
    })
}
