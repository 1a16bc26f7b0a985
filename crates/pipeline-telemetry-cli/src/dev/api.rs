//! The JSON answers: `/api/dashboard` (widget title → series → points),
//! `/api/monitors` (each monitor's state, value and reason) and
//! `/api/status` (what the receiver read and kept).

use serde_json::{json, Map, Value};

use super::http::Response;
use super::logs;
use super::otlp::LogRecord;
use super::page::Status;
use super::view::{Shape, Snapshot};

pub(crate) fn json(v: &Value) -> Response {
    Response::new(200, "application/json", format!("{v:#}\n"))
}

/// `{ "<widget title>": { "<series>": [[unix, value], ...] } }`; a widget
/// `dev` does not draw (the log stream) maps to `{}`. A repeated title
/// gets ` (2)`, ` (3)`, ... appended.
pub(crate) fn dashboard(snap: &Snapshot) -> Value {
    let mut widgets = Map::new();
    for w in &snap.widgets {
        let mut title = w.title.clone();
        let mut n = 1;
        while widgets.contains_key(&title) {
            n += 1;
            title = format!("{} ({n})", w.title);
        }
        let series: Map<String, Value> = w
            .series
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    json!(s
                        .points
                        .iter()
                        .map(|(t, v)| json!([t, v]))
                        .collect::<Vec<_>>()),
                )
            })
            .collect();
        widgets.insert(title, Value::Object(series));
    }
    Value::Object(widgets)
}

/// The monitors, in the guide's order.
pub(crate) fn monitors(snap: &Snapshot) -> Value {
    Value::Array(
        snap.monitors
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "query": m.query,
                    "state": m.state.as_str(),
                    "value": m.value,
                    "reason": m.reason,
                    "would_notify": m.notifies,
                })
            })
            .collect(),
    )
}

/// What the receiver read, kept and turned away.
pub(crate) fn status(status: &Status) -> Value {
    let st = &status.stats;
    json!({
        "dogstatsd": status.dogstatsd,
        "datagrams": st.datagrams,
        "lines": st.lines,
        "rejected_lines": st.rejected_lines,
        "histogram_lines": st.histogram_lines,
        "dropped_series": st.dropped_series,
        "dropped_samples": st.dropped_samples,
        "last_rejection": st.last_rejection,
        "series": status.series,
        "samples": status.samples,
        "max_series": status.limits.max_series,
        "max_samples": status.limits.max_samples,
        "window_secs": status.limits.window_secs,
    })
}

/// `{ "<log-stream widget title>": [record, ...] }`: what each log stream
/// finds, newest first (at most the rows the page shows).
pub(crate) fn logs(snap: &Snapshot, records: &[LogRecord]) -> Value {
    let mut out = Map::new();
    for w in &snap.widgets {
        if let Shape::Logs { query, .. } = &w.shape {
            let found: Vec<Value> = records
                .iter()
                .filter(|r| logs::matches(query, r))
                .take(logs::MAX_ROWS)
                .map(logs::json)
                .collect();
            out.insert(w.title.clone(), Value::Array(found));
        }
    }
    Value::Object(out)
}
