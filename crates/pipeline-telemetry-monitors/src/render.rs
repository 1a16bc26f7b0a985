//! Monitors as the Datadog monitors API (`POST /api/v1/monitor`) expects them.

use serde_json::{json, Map, Value};

use crate::monitor::Monitor;

/// The monitor type of a metric monitor in the API.
pub const MONITOR_TYPE: &str = "metric alert";

/// A number as JSON: integral values without a fraction (`5`, not `5.0`).
pub(crate) fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// The API body of one monitor.
///
/// ```
/// use pipeline_telemetry_monitors::{guide::{stage_duration_spike, Routing}, render::monitor_json};
/// let body = monitor_json(&stage_duration_spike(&Routing::default()));
/// assert_eq!(body["type"], "metric alert");
/// assert_eq!(body["options"]["thresholds"]["critical"], 5);
/// assert_eq!(body["options"]["thresholds"]["warning"], 4);
/// ```
pub fn monitor_json(monitor: &Monitor) -> Value {
    let mut thresholds = Map::new();
    thresholds.insert("critical".into(), number(monitor.critical()));
    if let Some(w) = monitor.warning {
        thresholds.insert("warning".into(), number(w));
    }
    let mut options = Map::new();
    options.insert("thresholds".into(), Value::Object(thresholds));
    options.insert("notify_no_data".into(), Value::Bool(monitor.notify_no_data));
    if let Some(minutes) = monitor.no_data_timeframe {
        options.insert("no_data_timeframe".into(), Value::from(minutes));
    }
    options.insert(
        "require_full_window".into(),
        Value::Bool(monitor.require_full_window),
    );
    options.insert("include_tags".into(), Value::Bool(true));
    if let Some(minutes) = monitor.renotify_interval {
        options.insert("renotify_interval".into(), Value::from(minutes));
    }
    let mut body = json!({
        "name": monitor.name,
        "type": MONITOR_TYPE,
        "query": monitor.query.to_string(),
        "message": monitor.message,
        "tags": monitor.tags,
        "options": Value::Object(options),
    });
    if let (Some(p), Some(obj)) = (monitor.priority, body.as_object_mut()) {
        obj.insert("priority".into(), Value::from(p));
    }
    body
}

/// A JSON array of API bodies, pretty-printed, ending with a newline.
pub fn monitors_json(monitors: &[Monitor]) -> String {
    let all = Value::Array(monitors.iter().map(monitor_json).collect());
    format!("{all:#}\n")
}
