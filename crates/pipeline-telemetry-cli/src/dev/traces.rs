//! The traces received over OTLP/HTTP, bounded, and their waterfalls:
//! one row per span, nested under its parent, a bar from its start to its
//! end, failed spans in red.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::otlp::Span;
use super::svg::escape;

/// Traces kept at most (the oldest goes first), and spans per trace.
const MAX_TRACES: usize = 50;
const MAX_SPANS: usize = 500;
/// Rows drawn per waterfall at most.
const MAX_ROWS: usize = 40;

#[derive(Debug, Clone)]
pub(crate) struct Trace {
    pub id: String,
    pub spans: Vec<Span>,
}

impl Trace {
    fn start(&self) -> u64 {
        self.spans.iter().map(|s| s.start_ns).min().unwrap_or(0)
    }

    fn end(&self) -> u64 {
        self.spans.iter().map(|s| s.end_ns).max().unwrap_or(0)
    }

    /// The spans in tree order, with their depth: each root (a span whose
    /// parent is not here), then its children by start time.
    fn rows(&self) -> Vec<(usize, &Span)> {
        let ids: HashMap<&str, usize> = self
            .spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id.as_str(), i))
            .collect();
        let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
        for (i, s) in self.spans.iter().enumerate() {
            let parent = ids.get(s.parent_id.as_str()).copied().filter(|p| *p != i);
            children.entry(parent).or_default().push(i);
        }
        for list in children.values_mut() {
            list.sort_by_key(|i| self.spans[*i].start_ns);
        }
        let mut rows = Vec::new();
        let mut seen = vec![false; self.spans.len()];
        let mut stack: Vec<(usize, usize)> = children
            .get(&None)
            .into_iter()
            .flatten()
            .rev()
            .map(|i| (*i, 0))
            .collect();
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            rows.push((depth, &self.spans[i]));
            if let Some(kids) = children.get(&Some(i)) {
                stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
            }
        }
        // A cycle of parents has no root: show those spans flat.
        rows.extend(
            self.spans
                .iter()
                .enumerate()
                .filter(|(i, _)| !seen[*i])
                .map(|(_, s)| (0, s)),
        );
        rows
    }

    fn title(&self) -> String {
        let rows = self.rows();
        let root = rows.first().map(|(_, s)| *s);
        let attr = |k: &str| {
            root.and_then(|r| r.attributes.iter().find(|(key, _)| key == k))
                .map(|(_, v)| v.as_str())
        };
        let mut t = root.map_or_else(String::new, |r| r.name.clone());
        for k in ["pipeline", "pipeline_id"] {
            if let Some(v) = attr(k) {
                let _ = write!(t, " {k}:{v}");
            }
        }
        t
    }

    fn failed(&self) -> bool {
        self.spans.iter().any(|s| s.error)
    }
}

/// The kept traces, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Traces {
    traces: Vec<Trace>,
    pub dropped_spans: u64,
    pub exports: u64,
    pub rejected_exports: u64,
}

impl Traces {
    pub(crate) fn add(&mut self, spans: Vec<Span>) {
        self.exports += 1;
        for s in spans {
            let at = match self.traces.iter().position(|t| t.id == s.trace_id) {
                Some(at) => at,
                None => {
                    if self.traces.len() >= MAX_TRACES {
                        self.traces.remove(0);
                    }
                    self.traces.push(Trace {
                        id: s.trace_id.clone(),
                        spans: Vec::new(),
                    });
                    self.traces.len() - 1
                }
            };
            let trace = &mut self.traces[at];
            if trace.spans.len() >= MAX_SPANS {
                self.dropped_spans += 1;
            } else {
                trace.spans.push(s);
            }
        }
    }

    /// The `n` traces that ended last, latest first.
    pub(crate) fn recent(&self, n: usize) -> Vec<Trace> {
        let mut all: Vec<&Trace> = self.traces.iter().collect();
        all.sort_by_key(|t| std::cmp::Reverse(t.end()));
        all.into_iter().take(n).cloned().collect()
    }
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// One trace's waterfall.
pub(crate) fn waterfall(trace: &Trace) -> String {
    const W: f64 = 1100.0;
    const LABEL: f64 = 300.0;
    const ROW: f64 = 18.0;
    let rows = trace.rows();
    let shown = rows.len().min(MAX_ROWS);
    let (start, end) = (trace.start(), trace.end());
    let span = end.saturating_sub(start).max(1) as f64;
    let h = ROW * shown as f64 + 4.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" style=\"width:100%;height:auto\" role=\"img\">"
    );
    for (row, (depth, s)) in rows.iter().take(shown).enumerate() {
        let y = ROW * row as f64 + 2.0;
        let x = LABEL + (s.start_ns.saturating_sub(start) as f64 / span) * (W - LABEL - 80.0);
        let w = (s.end_ns.saturating_sub(s.start_ns) as f64 / span * (W - LABEL - 80.0)).max(1.5);
        let color = if s.error { "#d62728" } else { "#632ca6" };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#222\">{}</text>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\" rx=\"2\"><title>{}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#555\">{:.1} ms</text>",
            4.0 + 12.0 * (*depth).min(12) as f64,
            y + 12.0,
            escape(&s.label()),
            y + 2.0,
            ROW - 5.0,
            escape(&s.status_message),
            x + w + 4.0,
            y + 12.0,
            ms(s.end_ns.saturating_sub(s.start_ns)),
        );
    }
    svg.push_str("</svg>");
    if rows.len() > shown {
        let _ = write!(
            svg,
            "<div class=\"sub\">{} more spans not drawn</div>",
            rows.len() - shown
        );
    }
    svg
}

/// The page's section of recent traces.
pub(crate) fn section(traces: &[Trace], out: &mut String) {
    for t in traces {
        let status = if t.failed() {
            "<span class=\"state ALERT\">failed</span>"
        } else {
            "<span class=\"state OK\">ok</span>"
        };
        let _ = write!(
            out,
            "<div class=\"card\"><h3>{} {status} <span class=\"sub\">{:.1} ms, {} spans</span></h3>{}</div>",
            escape(&t.title()),
            ms(t.end().saturating_sub(t.start())),
            t.spans.len(),
            waterfall(t)
        );
    }
}

/// `/api/traces`: the recent traces, their spans in tree order with times
/// in milliseconds from the trace's start.
pub(crate) fn json(traces: &[Trace]) -> Value {
    Value::Array(
        traces
            .iter()
            .map(|t| {
                let start = t.start();
                json!({
                    "trace_id": t.id,
                    "title": t.title(),
                    "failed": t.failed(),
                    "duration_ms": ms(t.end().saturating_sub(start)),
                    "spans": t.rows().iter().map(|(depth, s)| json!({
                        "name": s.name,
                        "resource": s.attributes.iter().find(|(k, _)| k == "resource.name").map(|(_, v)| v),
                        "depth": depth,
                        "service": s.service,
                        "start_ms": ms(s.start_ns.saturating_sub(start)),
                        "duration_ms": ms(s.end_ns.saturating_sub(s.start_ns)),
                        "error": s.error,
                        "status_message": s.status_message,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, name: &str, start: u64, end: u64) -> Span {
        Span {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_id: parent.into(),
            name: name.into(),
            start_ns: start,
            end_ns: end,
            error: name == "spark",
            status_message: String::new(),
            attributes: vec![("pipeline".into(), "etl".into())],
            service: "etl".into(),
        }
    }

    #[test]
    fn nests_spans_and_bounds_what_is_kept() {
        let mut traces = Traces::default();
        traces.add(vec![
            span("c", "b", "spark", 30, 40),
            span("b", "a", "stage", 10, 50),
            span("a", "", "pipeline.run", 0, 100),
            span("d", "a", "load", 60, 70),
            span("x", "x", "self-parent", 5, 6),
        ]);
        let t = &traces.recent(1)[0];
        let rows: Vec<(usize, &str)> = t
            .rows()
            .iter()
            .map(|(d, s)| (*d, s.name.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (0, "pipeline.run"),
                (1, "stage"),
                (2, "spark"),
                (1, "load"),
                (0, "self-parent")
            ]
        );
        assert_eq!(t.title(), "pipeline.run pipeline:etl");
        assert!(t.failed());
        let svg = waterfall(t);
        assert_eq!(svg.matches("<rect").count(), 5);
        for i in 0..(MAX_TRACES + 5) {
            let mut s = span("a", "", "run", 0, 1);
            s.trace_id = format!("trace-{i}");
            traces.add(vec![s]);
        }
        assert_eq!(traces.traces.len(), MAX_TRACES);
        traces.add(
            (0..MAX_SPANS + 3)
                .map(|i| span(&i.to_string(), "", "s", 0, 1))
                .collect(),
        );
        assert_eq!(traces.dropped_spans, 3);
    }
}
