//! A strict parser of DogStatsD metric datagrams.
//!
//! Used by the test doubles and the tests to read back exactly what went
//! on the wire. It accepts the forms the encoder writes and what the
//! official clients write: `name:v1[:v2...]|type[|@rate][|#tags][|c:id][|T<ts>][|e:..][|card:..]`.

use crate::encoder::MetricType;

/// One metric line read back from a datagram.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMetric {
    /// The metric name.
    pub name: String,
    /// One value, or several for a multi-value line.
    pub values: Vec<f64>,
    /// Its type.
    pub kind: MetricType,
    /// `|@rate`, if present.
    pub sample_rate: Option<f64>,
    /// The tags, in order.
    pub tags: Vec<String>,
    /// `|T<unix seconds>`, if present.
    pub timestamp: Option<u64>,
    /// `|c:<container id>`, if present.
    pub container_id: Option<String>,
    /// `|e:<external env>`, if present.
    pub external_env: Option<String>,
    /// `|card:<cardinality>`, if present.
    pub cardinality: Option<String>,
}

impl ParsedMetric {
    /// The value of the first tag with key `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find_map(|t| match t.split_once(':') {
            Some((k, v)) if k == key => Some(v),
            None if t == key => Some(""),
            _ => None,
        })
    }

    /// Whether any tag has key `key`.
    pub fn has_tag_key(&self, key: &str) -> bool {
        self.tag(key).is_some()
    }
}

/// Why a line could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DogStatsD line ({reason}): {line:?}")]
#[non_exhaustive]
pub struct ParseError {
    /// The offending line.
    pub line: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn err(line: &str, reason: &'static str) -> ParseError {
    ParseError {
        line: line.to_owned(),
        reason,
    }
}

/// Parses one metric line.
///
/// ```
/// let m = pipeline_telemetry_dogstatsd::parse::parse_line("pipeline.runs:1|c|#pipeline:etl").unwrap();
/// assert_eq!(m.name, "pipeline.runs");
/// assert_eq!(m.tag("pipeline"), Some("etl"));
/// ```
///
/// # Errors
///
/// [`ParseError`] naming the line and the reason when the line has no `:`
/// after the name, an empty name, a missing or unknown type, a value that
/// is not a finite number, a sample rate or timestamp that is not a
/// number, or a field this parser does not know.
pub fn parse_line(line: &str) -> Result<ParsedMetric, ParseError> {
    let mut fields = line.split('|');
    let head = fields.next().unwrap_or_default();
    let (name, values) = head
        .split_once(':')
        .ok_or_else(|| err(line, "no ':' after the name"))?;
    if name.is_empty() {
        return Err(err(line, "empty name"));
    }
    let kind = fields
        .next()
        .and_then(MetricType::from_wire)
        .ok_or_else(|| err(line, "missing or unknown type"))?;
    let values = values
        .split(':')
        .map(|v| match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(err(line, "value is not a finite number")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut m = ParsedMetric {
        name: name.to_owned(),
        values,
        kind,
        sample_rate: None,
        tags: Vec::new(),
        timestamp: None,
        container_id: None,
        external_env: None,
        cardinality: None,
    };
    for field in fields {
        if let Some(rate) = field.strip_prefix('@') {
            m.sample_rate = Some(rate.parse().map_err(|_| err(line, "bad sample rate"))?);
        } else if let Some(tags) = field.strip_prefix('#') {
            m.tags = tags
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
        } else if let Some(ts) = field.strip_prefix('T') {
            m.timestamp = Some(ts.parse().map_err(|_| err(line, "bad timestamp"))?);
        } else if let Some(id) = field.strip_prefix("c:") {
            m.container_id = Some(id.to_owned());
        } else if let Some(e) = field.strip_prefix("e:") {
            m.external_env = Some(e.to_owned());
        } else if let Some(c) = field.strip_prefix("card:") {
            m.cardinality = Some(c.to_owned());
        } else {
            return Err(err(line, "unknown field"));
        }
    }
    Ok(m)
}

/// Parses every line of a datagram (lines separated by `\n`; a trailing
/// newline is allowed).
///
/// # Errors
///
/// The [`ParseError`] of the first line that does not parse (see
/// [`parse_line`]).
pub fn parse_datagram(datagram: &str) -> Result<Vec<ParsedMetric>, ParseError> {
    datagram
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(parse_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_field() {
        let m = parse_line("a.b:1:2.5|d|@0.5|#x:y,z|c:ci-123|T1700000000|e:it-1|card:high")
            .expect("parses");
        assert_eq!(m.values, vec![1.0, 2.5]);
        assert_eq!(m.kind, MetricType::Distribution);
        assert_eq!(m.sample_rate, Some(0.5));
        assert_eq!(m.tags, vec!["x:y", "z"]);
        assert_eq!(m.tag("z"), Some(""));
        assert_eq!(m.container_id.as_deref(), Some("ci-123"));
        assert_eq!(m.timestamp, Some(1_700_000_000));
        assert_eq!(m.cardinality.as_deref(), Some("high"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "", "a", "a:1", "a:1|q", "a:x|c", "a:nan|g", ":1|c", "a:1|c|?",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
