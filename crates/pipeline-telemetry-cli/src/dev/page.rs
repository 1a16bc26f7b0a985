//! The HTML page: the monitors' states, then every widget by its title
//! with its graph, refreshed every few seconds by a meta refresh.

use std::fmt::Write as _;

use pipeline_telemetry_monitors::MonitorState;

use super::logs;
use super::otlp::LogRecord;
use super::store::{Limits, Stats};
use super::svg::{chart, escape, number, PALETTE};
use super::traces::{self, Trace};
use super::view::{Shape, Snapshot, Widget};

/// Seconds between two reloads of the page.
pub(crate) const REFRESH_SECS: u32 = 5;

/// What the page says about the receiver.
#[derive(Debug, Clone)]
pub(crate) struct Status {
    pub dogstatsd: String,
    pub stats: Stats,
    pub series: usize,
    pub samples: usize,
    pub limits: Limits,
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:16px 24px;color:#222;background:#f3f2f7}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px;color:#4b2b86}\
.sub{color:#555;font-size:13px}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(590px,1fr));gap:14px}\
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px}\
.card h3{font-size:15px;margin:0 0 4px}code{font-size:11px;color:#555;word-break:break-all}\
.nodata{height:80px;display:flex;align-items:center;justify-content:center;color:#999;background:#fafafa;border:1px dashed #ccc}\
.value{font-size:44px;font-weight:600;color:#4b2b86;padding:14px 0}.legend{font-size:12px;margin-top:4px}\
.legend span.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}.err{color:#b00020;font-size:12px}\
table{border-collapse:collapse;background:#fff;width:100%}td,th{border:1px solid #ddd;padding:6px 8px;text-align:left;font-size:13px}\
.state{font-weight:700;padding:2px 8px;border-radius:4px;color:#fff}.OK{background:#2ca02c}.ALERT{background:#d62728}\
.WARN{background:#e6a00d}.NODATA{background:#888}form{margin:8px 0}input{width:120px}\
table.logs td,table.logs th{font-size:11px;padding:3px 5px}";

fn state_class(s: MonitorState) -> &'static str {
    match s {
        MonitorState::Ok => "OK",
        MonitorState::Alert => "ALERT",
        MonitorState::Warn => "WARN",
        _ => "NODATA",
    }
}

fn widget(out: &mut String, w: &Widget, snap: &Snapshot, step: u64, records: &[LogRecord]) {
    let _ = write!(out, "<div class=\"card\"><h3>{}</h3>", escape(&w.title));
    for q in &w.queries {
        let _ = write!(out, "<code>{}</code><br>", escape(q));
    }
    match &w.shape {
        Shape::Logs { query, columns } => {
            let found: Vec<&LogRecord> =
                records.iter().filter(|r| logs::matches(query, r)).collect();
            if found.is_empty() {
                out.push_str(
                    "<div class=\"nodata\">No log records found: export them here over OTLP/HTTP \
                     (PIPELINE_TELEMETRY_OTLP_LOGS=1 with OTEL_EXPORTER_OTLP_ENDPOINT)</div>",
                );
            } else {
                logs::table(&found, columns, out);
            }
        }
        Shape::NotDrawn(why) => {
            let _ = write!(
                out,
                "<div class=\"nodata\">Not drawn: {}</div>",
                escape(why)
            );
        }
        _ if w.series.is_empty() => out.push_str("<div class=\"nodata\">No data</div>"),
        Shape::Value { unit, precision } => {
            for s in &w.series {
                let v = s.points.last().map_or(f64::NAN, |p| p.1);
                // The widget's precision, while it stays a short number.
                let shown = if v.is_finite() && v.abs() < 1e15 && v.abs() >= 1e-3 {
                    format!("{v:.precision$}")
                } else {
                    number(v)
                };
                let _ = write!(out, "<div class=\"value\">{shown}{}</div>", escape(unit));
            }
        }
        shape => {
            out.push_str(&chart(
                &w.series,
                snap.from,
                snap.now,
                step,
                *shape == Shape::Bars,
            ));
            out.push_str("<div class=\"legend\">");
            for (i, s) in w.series.iter().enumerate() {
                let last = s.points.last().map_or(String::new(), |p| number(p.1));
                let _ = write!(
                    out,
                    "<span class=\"sw\" style=\"background:{}\"></span>{} <b>{last}</b>",
                    PALETTE[i % PALETTE.len()],
                    escape(&s.name)
                );
            }
            out.push_str("</div>");
        }
    }
    for e in &w.errors {
        let _ = write!(out, "<div class=\"err\">{}</div>", escape(e));
    }
    out.push_str("</div>");
}

/// The whole page.
pub(crate) fn html(
    title: &str,
    snap: &Snapshot,
    status: &Status,
    step: u64,
    recent: &[Trace],
    records: &[LogRecord],
) -> String {
    let mut out = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>{t} (pipeline-telemetry dev)</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = escape(title)
    );
    let st = &status.stats;
    let _ = write!(
        out,
        "<div class=\"sub\">pipeline-telemetry dev: DogStatsD on {} &middot; {} datagrams, {} lines \
         ({} rejected, {} histogram/timer lines not graphed) &middot; {} series, {} samples kept \
         (at most {} series, {} samples, {} min of history) &middot; refreshes every {REFRESH_SECS} s</div>",
        escape(&status.dogstatsd),
        st.datagrams,
        st.lines,
        st.rejected_lines,
        st.histogram_lines,
        status.series,
        status.samples,
        status.limits.max_series,
        status.limits.max_samples,
        status.limits.window_secs / 60,
    );
    if st.dropped_series + st.dropped_samples > 0 {
        let _ = write!(
            out,
            "<div class=\"err\">over the caps: {} lines of new series and {} samples dropped</div>",
            st.dropped_series, st.dropped_samples
        );
    }
    if let Some(why) = &st.last_rejection {
        let _ = write!(
            out,
            "<div class=\"sub\">last rejected line: {}</div>",
            escape(why)
        );
    }
    out.push_str("<form method=\"get\" action=\"/\">");
    for (name, value) in &snap.template {
        let _ = write!(
            out,
            "${n} <input name=\"{n}\" value=\"{v}\"> ",
            n = escape(name),
            v = escape(value)
        );
    }
    out.push_str("<button>apply</button></form><h2>Monitors</h2><table><tr><th>monitor</th><th>state</th><th>value</th><th>why</th><th>query</th></tr>");
    for m in &snap.monitors {
        let _ = write!(
            out,
            "<tr><td>{}</td><td><span class=\"state {}\">{}</span></td><td>{}</td><td>{}{}</td><td><code>{}</code></td></tr>",
            escape(&m.name),
            state_class(m.state),
            m.state.as_str(),
            m.value.map_or_else(|| "-".to_owned(), number),
            escape(&m.reason),
            if m.notifies { " (would notify)" } else { "" },
            escape(&m.query)
        );
    }
    out.push_str("</table>");
    let mut current: Option<&str> = None;
    for w in &snap.widgets {
        let group = w.group.as_deref().unwrap_or("Widgets");
        if current != Some(group) {
            if current.is_some() {
                out.push_str("</div>");
            }
            let _ = write!(out, "<h2>{}</h2><div class=\"grid\">", escape(group));
            current = Some(group);
        }
        widget(&mut out, w, snap, step, records);
    }
    if current.is_some() {
        out.push_str("</div>");
    }
    out.push_str("<h2>Recent runs (traces over OTLP/HTTP)</h2>");
    if recent.is_empty() {
        out.push_str(
            "<div class=\"nodata\">No traces yet: export them here with \
             OTEL_EXPORTER_OTLP_ENDPOINT=http://&lt;this address&gt;</div>",
        );
    }
    traces::section(recent, &mut out);
    out.push_str("</body></html>\n");
    out
}
