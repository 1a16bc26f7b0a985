//! `replay`: evaluates the monitors over a capture file.

use std::fmt::Write as _;

use pipeline_telemetry_monitors::{Monitor, MonitorState, Point};

/// The report of one replay, and whether any monitor would notify.
pub(crate) struct Report {
    pub text: String,
    pub notifying: usize,
}

/// Evaluates `monitors` at `now` over `points`.
pub(crate) fn report(monitors: &[Monitor], points: &[Point], now: u64) -> Report {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "evaluated {} points at {now} (unix seconds)\n",
        points.len()
    );
    let mut notifying = Vec::new();
    for m in monitors {
        let groups = m.evaluate_groups(points, now);
        let state = MonitorState::worst(groups.iter().map(|g| g.state));
        let verdict = if m.notifies(state) {
            "would notify"
        } else {
            "quiet"
        };
        let _ = writeln!(text, "{:<8} {:<24} {verdict}", state.as_str(), m.name);
        let _ = writeln!(text, "         {}", m.query);
        for g in &groups {
            let value = g
                .value
                .map_or_else(|| "no value".to_owned(), |v| format!("value {v}"));
            let group = if g.group.is_empty() {
                "*".to_owned()
            } else {
                g.group.join(",")
            };
            let _ = writeln!(text, "         {group}: {} ({value})", g.state);
        }
        if m.notifies(state) {
            notifying.push(m.name.as_str());
        }
    }
    let _ = writeln!(
        text,
        "\n{} of {} monitors would notify{}{}",
        notifying.len(),
        monitors.len(),
        if notifying.is_empty() { "" } else { ": " },
        notifying.join(", ")
    );
    Report {
        text,
        notifying: notifying.len(),
    }
}
