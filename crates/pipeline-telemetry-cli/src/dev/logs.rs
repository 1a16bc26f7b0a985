//! The log records received over OTLP/HTTP, bounded, and the log-stream
//! widget: the records its search matches, newest first.
//!
//! The search is the subset of Datadog's log search syntax the dashboard
//! uses: space-separated terms that must all hold, each `key:value`
//! (`*` in a value matches any run of characters) or a bare word searched
//! in the message, `-` negating a term. `@key` is an attribute; `service`
//! the resource's `service.name`; `status` the severity; `source` the
//! `ddsource` attribute, which OTLP records do not carry: a record without
//! it counts as `pipeline`, the source pipeline-telemetry's JSON log lines
//! declare (`ddsource: pipeline`). Any other key is read as an attribute,
//! as a tag remapped from one would be.

use std::collections::VecDeque;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::otlp::LogRecord;
use super::svg::escape;

/// Records kept at most (the oldest goes first).
const MAX_RECORDS: usize = 1_000;
/// Rows a log-stream widget shows at most.
pub(crate) const MAX_ROWS: usize = 20;

#[derive(Debug, Default)]
pub(crate) struct Logs {
    records: VecDeque<LogRecord>,
    pub exports: u64,
    pub rejected_exports: u64,
}

impl Logs {
    pub(crate) fn add(&mut self, records: Vec<LogRecord>) {
        self.exports += 1;
        for r in records {
            if self.records.len() >= MAX_RECORDS {
                self.records.pop_front();
            }
            self.records.push_back(r);
        }
    }

    /// Every kept record, newest first.
    pub(crate) fn newest_first(&self) -> Vec<LogRecord> {
        let mut all: Vec<LogRecord> = self.records.iter().cloned().collect();
        all.sort_by_key(|r| std::cmp::Reverse(r.time_ns));
        all
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => text.strip_prefix(head).is_some_and(|rest| {
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }),
    }
}

/// Whether `record` is found by the search `query`.
pub(crate) fn matches(query: &str, record: &LogRecord) -> bool {
    query.split_whitespace().all(|term| {
        let (negated, term) = match term.strip_prefix('-') {
            Some(t) => (true, t),
            None => (false, term),
        };
        let found = match term.split_once(':') {
            Some((key, value)) => {
                let actual = match key {
                    "source" => Some(record.attribute("ddsource").unwrap_or("pipeline")),
                    "service" => Some(record.service.as_str()),
                    "status" => Some(record.severity.as_str()),
                    _ => record.attribute(key.strip_prefix('@').unwrap_or(key)),
                };
                actual.is_some_and(|a| glob(&value.to_lowercase(), &a.to_lowercase()))
            }
            None => record.body.to_lowercase().contains(&term.to_lowercase()),
        };
        found != negated
    })
}

/// A column of the widget: `service`, or `@attribute`.
fn column(record: &LogRecord, name: &str) -> String {
    match name.strip_prefix('@') {
        Some(attr) => record.attribute(attr).unwrap_or_default().to_owned(),
        None if name == "service" => record.service.clone(),
        None => record.attribute(name).unwrap_or_default().to_owned(),
    }
}

fn clock(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    format!("{:02}:{:02}:{:02}", s / 3_600 % 24, s / 60 % 60, s % 60)
}

/// The widget's table.
pub(crate) fn table(records: &[&LogRecord], columns: &[String], out: &mut String) {
    out.push_str("<table class=\"logs\"><tr><th>time (UTC)</th><th>status</th>");
    for c in columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("<th>message</th></tr>");
    for r in records.iter().take(MAX_ROWS) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td>",
            clock(r.time_ns),
            escape(&r.severity)
        );
        for c in columns {
            let _ = write!(out, "<td>{}</td>", escape(&column(r, c)));
        }
        let _ = write!(out, "<td>{}</td></tr>", escape(&r.body));
    }
    out.push_str("</table>");
}

/// One record as JSON.
pub(crate) fn json(r: &LogRecord) -> Value {
    json!({
        "time_unix_nano": r.time_ns,
        "service": r.service,
        "status": r.severity,
        "message": r.body,
        "trace_id": r.trace_id,
        "attributes": r.attributes.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect::<serde_json::Map<_, _>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(attrs: &[(&str, &str)], body: &str) -> LogRecord {
        LogRecord {
            time_ns: 1_700_000_000_000_000_000,
            severity: "WARN".into(),
            body: body.into(),
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            trace_id: String::new(),
            service: "etl".into(),
        }
    }

    #[test]
    fn searches_like_the_dashboard_s_log_stream() {
        let failed = record(&[("outcome", "failed"), ("stage", "spark")], "stage failed");
        let ok = record(&[("stage", "spark")], "stage done");
        let q = "source:pipeline @outcome:failed";
        assert!(matches(q, &failed));
        assert!(!matches(q, &ok));
        assert!(matches("service:et* -@stage:load FAILED", &failed));
        assert!(!matches("source:other", &failed));
        let elsewhere = record(&[("ddsource", "nginx"), ("outcome", "failed")], "x");
        assert!(!matches(q, &elsewhere));
        assert!(matches("status:warn", &failed));
        let mut out = String::new();
        table(
            &[&failed],
            &["service".into(), "@stage".into(), "@error.kind".into()],
            &mut out,
        );
        assert!(
            out.contains("<td>etl</td><td>spark</td><td></td><td>stage failed</td>"),
            "{out}"
        );
        assert!(out.contains("<td>22:13:20</td>"), "{out}");
    }

    #[test]
    fn keeps_the_newest_records() {
        let mut logs = Logs::default();
        logs.add(
            (0..MAX_RECORDS as u64 + 5)
                .map(|i| LogRecord {
                    time_ns: i,
                    ..record(&[], "x")
                })
                .collect(),
        );
        let all = logs.newest_first();
        assert_eq!(all.len(), MAX_RECORDS);
        assert_eq!(all[0].time_ns, MAX_RECORDS as u64 + 4);
    }
}
