//! A parser of the metric-alert grammar.
//!
//! ```text
//! <time_aggr>(last_<N><m|h|d|w>):<metric query> <op> <threshold>
//! change(<time_aggr>(last_<N>m),<N>m_ago):<metric query> <op> <threshold>
//! change(last_<N>m):<metric query> <op> <threshold>          (shorthand)
//! <metric query> = <space_aggr>:<metric>{<scope>} [by {<keys>}] [.as_count()|.as_rate()]
//! ```
//!
//! The boolean scope syntax (`AND`, `OR`, `IN`) and query functions
//! (`abs(...)`, arithmetic between queries) are not supported and are
//! reported as [`ParseQueryError::Unsupported`].

mod error;

pub use error::ParseQueryError;

use crate::query::{
    ChangeKind, Comparator, Evaluation, MetricQuery, MonitorQuery, SpaceAggregation, TagFilter,
    TimeAggregation, TypeModifier, Window,
};

/// Parses a monitor query.
///
/// ```
/// use pipeline_telemetry_monitors::parse::parse_monitor_query;
/// let q = parse_monitor_query("avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5").unwrap();
/// assert_eq!(q.metric.metric, "pipeline.stage.duration");
/// assert_eq!(q.threshold, 5.0);
/// assert_eq!(q.to_string(), "avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5");
/// ```
///
/// # Errors
///
/// [`ParseQueryError::Syntax`] where the text is not a Datadog query,
/// [`ParseQueryError::Unsupported`] for valid syntax this parser does not
/// implement, [`ParseQueryError::Threshold`] / [`ParseQueryError::Length`]
/// for a threshold or window length that is not a number.
pub fn parse_monitor_query(query: &str) -> Result<MonitorQuery, ParseQueryError> {
    let mut p = Cursor { s: query, pos: 0 };
    p.skip_ws();
    let evaluation = p.evaluation()?;
    p.skip_ws();
    p.expect(":", "':' after the evaluation window")?;
    p.skip_ws();
    let metric = p.metric_query()?;
    p.skip_ws();
    let comparator = p.comparator()?;
    p.skip_ws();
    let rest = p.s[p.pos..].trim_end();
    if rest.is_empty() {
        return Err(p.syntax("a threshold"));
    }
    let threshold = rest
        .parse::<f64>()
        .map_err(|source| ParseQueryError::Threshold {
            query: query.to_owned(),
            source,
        })?;
    Ok(MonitorQuery {
        evaluation,
        metric,
        comparator,
        threshold,
    })
}

/// Parses a metric query as used in dashboards.
///
/// ```
/// use pipeline_telemetry_monitors::parse::parse_metric_query;
/// let q = parse_metric_query("p95:pipeline.stage.duration{$env,$service} by {stage}").unwrap();
/// assert_eq!(q.group_by, vec!["stage"]);
/// ```
///
/// # Errors
///
/// As [`parse_monitor_query`]: [`ParseQueryError::Syntax`] also when text
/// follows the metric query.
pub fn parse_metric_query(query: &str) -> Result<MetricQuery, ParseQueryError> {
    let mut p = Cursor { s: query, pos: 0 };
    p.skip_ws();
    let q = p.metric_query()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(p.syntax("the end of the query"));
    }
    Ok(q)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn syntax(&self, expected: &'static str) -> ParseQueryError {
        ParseQueryError::Syntax {
            query: self.s.to_owned(),
            position: self.pos,
            expected,
        }
    }

    fn unsupported(&self, what: &'static str) -> ParseQueryError {
        ParseQueryError::Unsupported {
            query: self.s.to_owned(),
            what,
        }
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.s.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str, expected: &'static str) -> Result<(), ParseQueryError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.syntax(expected))
        }
    }

    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let end = rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    fn ident(&mut self) -> &'a str {
        self.take_while(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    fn number(&mut self) -> Result<u64, ParseQueryError> {
        let digits = self.take_while(|c| c.is_ascii_digit());
        digits.parse().map_err(|source| ParseQueryError::Length {
            query: self.s.to_owned(),
            source,
        })
    }

    fn unit(&mut self) -> Result<char, ParseQueryError> {
        match self.rest().chars().next() {
            Some(c @ ('m' | 'h' | 'd' | 'w')) => {
                self.pos += 1;
                Ok(c)
            }
            _ => Err(self.syntax("a unit (m, h, d or w)")),
        }
    }

    fn window(&mut self) -> Result<Window, ParseQueryError> {
        self.expect("last_", "'last_<N>m'")?;
        let amount = self.number()?;
        let unit = self.unit()?;
        Ok(Window { amount, unit })
    }

    fn shift(&mut self) -> Result<Window, ParseQueryError> {
        let amount = self.number()?;
        let unit = self.unit()?;
        self.expect("_ago", "'<N>m_ago'")?;
        Ok(Window { amount, unit })
    }

    fn time_aggregation(&self, name: &str) -> Result<TimeAggregation, ParseQueryError> {
        Ok(match name {
            "avg" => TimeAggregation::Avg,
            "sum" => TimeAggregation::Sum,
            "min" => TimeAggregation::Min,
            "max" => TimeAggregation::Max,
            "percentile" => TimeAggregation::Percentile,
            _ => return Err(self.syntax("avg, sum, min, max, percentile, change or pct_change")),
        })
    }

    fn evaluation(&mut self) -> Result<Evaluation, ParseQueryError> {
        let start = self.pos;
        let name = self.ident();
        let kind = match name {
            "change" => Some(ChangeKind::Absolute),
            "pct_change" => Some(ChangeKind::Percent),
            _ => None,
        };
        let Some(kind) = kind else {
            self.pos = start;
            let aggregation = self.time_aggregation(name)?;
            self.pos += name.len();
            self.expect("(", "'('")?;
            let window = self.window()?;
            self.expect(")", "')'")?;
            return Ok(Evaluation::Threshold {
                aggregation,
                window,
            });
        };
        self.expect("(", "'('")?;
        self.skip_ws();
        if self.rest().starts_with("last_") {
            let window = self.window()?;
            self.skip_ws();
            self.expect(")", "')'")?;
            return Ok(Evaluation::Change {
                kind,
                aggregation: TimeAggregation::Avg,
                window,
                shift: window,
                shorthand: true,
            });
        }
        let inner_start = self.pos;
        let inner = self.ident();
        self.pos = inner_start;
        let aggregation = self.time_aggregation(inner)?;
        self.pos += inner.len();
        self.expect("(", "'('")?;
        let window = self.window()?;
        self.expect(")", "')'")?;
        self.skip_ws();
        self.expect(",", "',' before the time shift")?;
        self.skip_ws();
        let shift = self.shift()?;
        self.skip_ws();
        self.expect(")", "')'")?;
        Ok(Evaluation::Change {
            kind,
            aggregation,
            window,
            shift,
            shorthand: false,
        })
    }

    fn space_aggregation(&mut self) -> Result<SpaceAggregation, ParseQueryError> {
        let name = self.ident();
        if self.rest().starts_with('(') {
            return Err(self.unsupported("a function around the metric query"));
        }
        Ok(match name {
            "avg" => SpaceAggregation::Avg,
            "sum" => SpaceAggregation::Sum,
            "min" => SpaceAggregation::Min,
            "max" => SpaceAggregation::Max,
            "count" => SpaceAggregation::Count,
            _ => match name.strip_prefix('p').map(str::parse::<f64>) {
                Some(Ok(p)) if p > 0.0 && p < 100.0 => SpaceAggregation::Percentile(p),
                _ => {
                    self.pos -= name.len();
                    return Err(self.syntax("a space aggregation (avg, sum, min, max, count, pNN)"));
                }
            },
        })
    }

    fn metric_query(&mut self) -> Result<MetricQuery, ParseQueryError> {
        let space = self.space_aggregation()?;
        self.expect(":", "':' after the space aggregation")?;
        let metric = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if metric.is_empty() {
            return Err(self.syntax("a metric name"));
        }
        self.expect("{", "'{' opening the scope")?;
        let scope_start = self.pos;
        let scope = self.take_while(|c| c != '}');
        self.expect("}", "'}' closing the scope")?;
        let filters = self.filters(scope, scope_start)?;
        let mut q = MetricQuery {
            space,
            metric: metric.to_owned(),
            filters,
            group_by: Vec::new(),
            modifier: None,
        };
        self.modifier(&mut q)?;
        let before_by = self.pos;
        self.skip_ws();
        if self.eat("by") {
            self.skip_ws();
            self.expect("{", "'{' after 'by'")?;
            let keys = self.take_while(|c| c != '}');
            self.expect("}", "'}' closing the group by")?;
            for key in keys.split(',').map(str::trim) {
                if key.is_empty() || key.contains(char::is_whitespace) {
                    return Err(self.syntax("a comma-separated list of tag keys"));
                }
                q.group_by.push(key.to_owned());
            }
            self.modifier(&mut q)?;
        } else {
            self.pos = before_by;
        }
        Ok(q)
    }

    fn modifier(&mut self, q: &mut MetricQuery) -> Result<(), ParseQueryError> {
        let modifier = if self.eat(".as_count()") {
            TypeModifier::AsCount
        } else if self.eat(".as_rate()") {
            TypeModifier::AsRate
        } else if self.rest().starts_with('.') {
            return Err(self.unsupported("a modifier other than .as_count() and .as_rate()"));
        } else {
            return Ok(());
        };
        if q.modifier.is_some() {
            return Err(self.syntax("a single type modifier"));
        }
        q.modifier = Some(modifier);
        Ok(())
    }

    fn filters(&self, scope: &str, start: usize) -> Result<Vec<TagFilter>, ParseQueryError> {
        let mut filters = Vec::new();
        for item in scope.split(',').map(str::trim) {
            if item.contains(char::is_whitespace) {
                return Err(self.unsupported("the boolean scope syntax (AND, OR, NOT, IN)"));
            }
            let filter = match item {
                "" => {
                    return Err(ParseQueryError::Syntax {
                        query: self.s.to_owned(),
                        position: start,
                        expected: "a tag filter",
                    })
                }
                "*" => TagFilter::All,
                _ if item.starts_with('$') => TagFilter::TemplateVariable(item[1..].to_owned()),
                _ => {
                    let (negated, tag) = match item.strip_prefix(['!', '-']) {
                        Some(t) => (true, t),
                        None => (false, item),
                    };
                    match tag.split_once(':') {
                        Some((key, value)) => TagFilter::Tag {
                            key: key.to_owned(),
                            value: value.to_owned(),
                            negated,
                        },
                        None => TagFilter::Bare {
                            tag: tag.to_owned(),
                            negated,
                        },
                    }
                }
            };
            filters.push(filter);
        }
        Ok(filters)
    }

    fn comparator(&mut self) -> Result<Comparator, ParseQueryError> {
        for (token, op) in [
            (">=", Comparator::AboveOrEqual),
            ("<=", Comparator::BelowOrEqual),
            ("==", Comparator::Equal),
            ("!=", Comparator::NotEqual),
            (">", Comparator::Above),
            ("<", Comparator::Below),
        ] {
            if self.eat(token) {
                return Ok(op);
            }
        }
        Err(self.syntax("a comparison (>, >=, <, <=, ==, !=)"))
    }
}

#[cfg(test)]
mod tests;
