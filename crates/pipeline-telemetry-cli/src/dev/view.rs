//! Evaluates the dashboard's widgets and the monitors over the kept
//! points, with the monitors crate's evaluator: what the page and the JSON
//! API show.

use std::collections::{BTreeMap, HashSet};

use pipeline_telemetry_monitors::parse::parse_metric_query;
use pipeline_telemetry_monitors::query::{MetricQuery, TagFilter};
use pipeline_telemetry_monitors::{AgentModel, Monitor, MonitorState, Point};
use serde_json::Value;

use super::formula::{self, Groups};
use super::svg::number;

/// The shortest graphed range, so that a fresh session is not one column.
const MIN_RANGE_SECS: u64 = 300;

/// One drawn series.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    pub points: Vec<(u64, f64)>,
}

/// How a widget is drawn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Shape {
    Line,
    Bars,
    /// A single number (`query_value`).
    Value {
        unit: String,
        precision: usize,
    },
    /// A log stream: the records its search finds (received over OTLP).
    Logs {
        query: String,
        columns: Vec<String>,
    },
    /// Not drawn by `dev`, with the reason.
    NotDrawn(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Widget {
    pub group: Option<String>,
    pub title: String,
    pub queries: Vec<String>,
    pub shape: Shape,
    pub series: Vec<Series>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MonitorView {
    pub name: String,
    pub query: String,
    pub state: MonitorState,
    pub value: Option<f64>,
    pub reason: String,
    pub notifies: bool,
}

/// Everything one page or API answer shows, evaluated at `now`.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub now: u64,
    pub from: u64,
    pub widgets: Vec<Widget>,
    pub monitors: Vec<MonitorView>,
    /// `(variable, value)` applied (`*` when not chosen).
    pub template: Vec<(String, String)>,
}

/// The dashboard's template variables: `(name, tag prefix)`.
pub(crate) fn template_variables(dashboard: &Value) -> Vec<(String, String)> {
    dashboard["template_variables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let name = v["name"].as_str()?;
            Some((
                name.to_owned(),
                v["prefix"].as_str().unwrap_or(name).to_owned(),
            ))
        })
        .collect()
}

/// Replaces each `$name` with the chosen `prefix:value`; an unchosen
/// variable (or `*`) matches everything, as in Datadog.
fn apply_template(mut q: MetricQuery, chosen: &[(String, String, String)]) -> MetricQuery {
    for f in &mut q.filters {
        if let TagFilter::TemplateVariable(name) = f {
            if let Some((_, prefix, value)) = chosen.iter().find(|(n, _, v)| n == name && v != "*")
            {
                *f = TagFilter::Tag {
                    key: prefix.clone(),
                    value: value.clone(),
                    negated: false,
                };
            }
        }
    }
    q
}

struct Context<'a> {
    points: &'a [Point],
    agent: AgentModel,
    from: u64,
    now: u64,
    chosen: Vec<(String, String, String)>,
}

impl Context<'_> {
    /// `name → groups` of a request's queries; a scalar request reduces
    /// each group with the query's `aggregator`.
    fn queries(
        &self,
        request: &Value,
        scalar: bool,
        errors: &mut Vec<String>,
    ) -> (BTreeMap<String, Groups>, Vec<String>) {
        let mut out = BTreeMap::new();
        let mut texts = Vec::new();
        for q in request["queries"].as_array().into_iter().flatten() {
            let (Some(name), Some(text)) = (q["name"].as_str(), q["query"].as_str()) else {
                continue;
            };
            texts.push(text.to_owned());
            let parsed = match parse_metric_query(text) {
                Ok(p) => apply_template(p, &self.chosen),
                Err(e) => {
                    errors.push(format!("{text}: {e}"));
                    continue;
                }
            };
            let graph = parsed.timeseries(self.points, self.from, self.now, &self.agent);
            let groups: Groups = graph
                .into_iter()
                .filter_map(|g| {
                    let pts: BTreeMap<u64, f64> = g.points.into_iter().collect();
                    if !scalar {
                        return Some((g.group, pts));
                    }
                    let v = reduce(q["aggregator"].as_str().unwrap_or("avg"), &pts)?;
                    Some((g.group, BTreeMap::from([(self.now, v)])))
                })
                .collect();
            out.insert(name.to_owned(), groups);
        }
        (out, texts)
    }

    fn widget(&self, group: Option<&str>, def: &Value) -> Widget {
        let kind = def["type"].as_str().unwrap_or("?");
        let mut w = Widget {
            group: group.map(str::to_owned),
            title: def["title"].as_str().unwrap_or(kind).to_owned(),
            queries: Vec::new(),
            shape: Shape::Line,
            series: Vec::new(),
            errors: Vec::new(),
        };
        let scalar = match kind {
            "timeseries" => false,
            "query_value" => true,
            "log_stream" => {
                let q = def["query"].as_str().unwrap_or_default();
                w.queries.push(q.to_owned());
                let columns = def["columns"].as_array().into_iter().flatten();
                w.shape = Shape::Logs {
                    query: q.to_owned(),
                    columns: columns
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect(),
                };
                return w;
            }
            other => {
                w.shape = Shape::NotDrawn(format!("widget type {other} is not drawn by dev"));
                return w;
            }
        };
        for request in def["requests"].as_array().into_iter().flatten() {
            if request["display_type"].as_str() == Some("bars") {
                w.shape = Shape::Bars;
            }
            let (queries, texts) = self.queries(request, scalar, &mut w.errors);
            w.queries.extend(texts);
            let formulas: Vec<(&str, Option<&str>)> = request["formulas"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| Some((f["formula"].as_str()?, f["alias"].as_str())))
                .collect();
            let many = formulas.len() > 1;
            for (text, alias) in formulas {
                let result = formula::parse(text).and_then(|e| formula::eval(&e, &queries));
                let groups = match result {
                    Ok(g) => g,
                    Err(e) => {
                        w.errors.push(format!("{text}: {e}"));
                        continue;
                    }
                };
                let label = alias
                    .map(str::to_owned)
                    .or_else(|| many.then(|| text.to_owned()));
                for (group, pts) in groups {
                    let name = match (&label, group.is_empty()) {
                        (Some(l), true) => l.clone(),
                        (Some(l), false) => format!("{l} {}", group.join(",")),
                        (None, false) => group.join(","),
                        (None, true) => text.to_owned(),
                    };
                    w.series.push(Series {
                        name,
                        points: pts.into_iter().collect(),
                    });
                }
            }
        }
        if scalar {
            w.shape = Shape::Value {
                unit: def["custom_unit"].as_str().unwrap_or_default().to_owned(),
                precision: def["precision"].as_u64().unwrap_or(2).min(6) as usize,
            };
        }
        w
    }

    fn walk(&self, group: Option<&str>, widgets: &Value, out: &mut Vec<Widget>) {
        for w in widgets.as_array().into_iter().flatten() {
            let def = &w["definition"];
            if def["type"].as_str() == Some("group") {
                self.walk(def["title"].as_str(), &def["widgets"], out);
            } else {
                out.push(self.widget(group, def));
            }
        }
    }
}

fn reduce(aggregator: &str, pts: &BTreeMap<u64, f64>) -> Option<f64> {
    let values = pts.values().copied();
    let n = pts.len() as f64;
    match aggregator {
        "sum" => (n > 0.0).then(|| values.sum()),
        "max" => values.reduce(f64::max),
        "min" => values.reduce(f64::min),
        "last" => pts.values().next_back().copied(),
        _ => (n > 0.0).then(|| values.sum::<f64>() / n),
    }
}

fn monitor_view(m: &Monitor, points: &[Point], now: u64) -> MonitorView {
    let groups = m.evaluate_groups(points, now);
    let state = MonitorState::worst(groups.iter().map(|g| g.state));
    let decided = groups.iter().find(|g| g.state == state);
    // A value that is not a finite number (a count past f64::MAX) is
    // no value in the JSON answer (null): the reason says what it was.
    let raw = decided.and_then(|g| g.value);
    let value = raw.filter(|v| v.is_finite());
    let q = &m.query;
    let window = q.evaluation.window();
    let window = format!("last {}{}", window.amount, window.unit);
    let op = q.comparator.as_str();
    let group = decided
        .filter(|g| !g.group.is_empty())
        .map(|g| format!(" for {}", g.group.join(",")))
        .unwrap_or_default();
    let reason = match (state, value) {
        (MonitorState::NoData, _) => format!("no {} data in the {window}", q.metric.metric),
        (_, None) if raw.is_some() => format!(
            "the value over the {window}{group} is not a finite number ({}): state {}",
            number(raw.unwrap_or(f64::NAN)),
            state.as_str()
        ),
        (_, None) => {
            format!("no {} data in the {window}", q.metric.metric)
        }
        (MonitorState::Alert, Some(v)) => {
            format!(
                "{} {op} {} (critical) over the {window}{group}",
                number(v),
                number(q.threshold)
            )
        }
        (MonitorState::Warn, Some(v)) => format!(
            "{} {op} {} (warning) over the {window}{group}",
            number(v),
            number(m.warning.unwrap_or(q.threshold))
        ),
        (_, Some(v)) => format!(
            "{} is not {op} {} over the {window}{group}",
            number(v),
            number(q.threshold)
        ),
    };
    MonitorView {
        name: m.name.clone(),
        query: q.to_string(),
        state,
        value,
        reason,
        notifies: m.notifies(state),
    }
}

/// The metric names the widgets of `dashboard` and the `monitors` query:
/// the only ones a request needs from the store.
pub(crate) fn metric_names(dashboard: &Value, monitors: &[Monitor]) -> HashSet<String> {
    fn walk(widgets: &Value, out: &mut HashSet<String>) {
        for w in widgets.as_array().into_iter().flatten() {
            let def = &w["definition"];
            walk(&def["widgets"], out);
            let requests = def["requests"].as_array().into_iter().flatten();
            let queries = requests.flat_map(|r| r["queries"].as_array().into_iter().flatten());
            for q in queries.filter_map(|q| q["query"].as_str()) {
                if let Ok(parsed) = parse_metric_query(q) {
                    out.insert(parsed.metric);
                }
            }
        }
    }
    let mut names: HashSet<String> = monitors
        .iter()
        .map(|m| m.query.metric.metric.clone())
        .collect();
    walk(&dashboard["widgets"], &mut names);
    names
}

/// What was kept, taken out of the store (so that evaluating does not hold
/// the receiver back).
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub points: Vec<Point>,
    /// The earliest flush interval kept.
    pub first: Option<u64>,
    pub window_secs: u64,
    pub agent: AgentModel,
}

/// Evaluates every widget of `dashboard` and every monitor at `now`, with
/// the template variable values `chosen` (`name → value`).
pub(crate) fn snapshot(
    dashboard: &Value,
    monitors: &[Monitor],
    kept: &Kept,
    now: u64,
    chosen: &BTreeMap<String, String>,
) -> Snapshot {
    let (points, first) = (&kept.points, kept.first);
    let window_start = now.saturating_sub(kept.window_secs);
    let from = match first {
        Some(first) => window_start.max(
            first
                .min(now.saturating_sub(MIN_RANGE_SECS))
                .saturating_sub(1),
        ),
        None => now.saturating_sub(MIN_RANGE_SECS),
    };
    let variables = template_variables(dashboard);
    let chosen: Vec<(String, String, String)> = variables
        .iter()
        .map(|(name, prefix)| {
            let v = chosen.get(name).map_or("*", String::as_str);
            (
                name.clone(),
                prefix.clone(),
                if v.is_empty() {
                    "*".to_owned()
                } else {
                    v.to_owned()
                },
            )
        })
        .collect();
    let ctx = Context {
        points,
        agent: kept.agent,
        from,
        now,
        chosen,
    };
    let mut widgets = Vec::new();
    ctx.walk(None, &dashboard["widgets"], &mut widgets);
    Snapshot {
        now,
        from,
        widgets,
        monitors: monitors
            .iter()
            .map(|m| monitor_view(m, points, now))
            .collect(),
        template: ctx.chosen.into_iter().map(|(n, _, v)| (n, v)).collect(),
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
