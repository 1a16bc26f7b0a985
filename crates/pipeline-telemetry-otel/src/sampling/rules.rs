//! Trace sampling rules (`DD_TRACE_SAMPLING_RULES`), ported from ddtrace-py
//! 4.16: `SamplingRule` (`ddtrace/_trace/sampling_rule.py`), its
//! `GlobMatcher` (`ddtrace/internal/glob_matching.py`) and
//! `DatadogSampler.set_sampling_rules` (`ddtrace/_trace/sampler.py`).

use std::collections::BTreeMap;

use crate::json_parse::{self, Value};

/// A glob pattern: `*` any run of characters (also none), `?` one
/// character, no escapes; matched case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glob {
    pattern: Vec<char>,
    wildcards_only: bool,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Self {
        let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
        let wildcards_only = pattern.iter().all(|c| *c == '*' || *c == '?');
        Glob {
            pattern,
            wildcards_only,
        }
    }

    /// `GlobMatcher.match`: ddtrace's backtracking matcher.
    pub(crate) fn matches(&self, subject: &str) -> bool {
        let p = &self.pattern;
        let s: Vec<char> = subject.to_lowercase().chars().collect();
        let (mut px, mut sx, mut next_px, mut next_sx) = (0, 0, 0, 0);
        while px < p.len() || sx < s.len() {
            if px < p.len() {
                let c = p[px];
                if c == '?' {
                    if sx < s.len() {
                        px += 1;
                        sx += 1;
                        continue;
                    }
                } else if c == '*' {
                    next_px = px;
                    next_sx = sx + 1;
                    px += 1;
                    continue;
                } else if sx < s.len() && s[sx] == c {
                    px += 1;
                    sx += 1;
                    continue;
                }
            }
            if 0 < next_sx && next_sx <= s.len() {
                px = next_px;
                sx = next_sx;
                continue;
            }
            return false;
        }
        true
    }
}

/// Where a rule came from (`provenance`): rules are tried customer first,
/// then dynamic, then default (the environment's), each kind in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Provenance {
    Customer,
    Dynamic,
    Default,
}

/// A span attribute value as a rule's tag pattern sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TagValue<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
}

/// One sampling rule.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rule {
    pub(crate) sample_rate: f64,
    pub(crate) service: Option<Glob>,
    pub(crate) name: Option<Glob>,
    pub(crate) resource: Option<Glob>,
    pub(crate) tags: Vec<(String, Glob)>,
    pub(crate) provenance: Provenance,
    /// A trace this rule rejects is dropped outright, not kept with a
    /// reject priority.
    pub(crate) discard: bool,
}

/// Python's `min(1.0, max(0.0, rate))` (NaN gives 0).
pub(crate) fn clamp_rate(rate: f64) -> f64 {
    let r = if rate > 0.0 { rate } else { 0.0 };
    if r < 1.0 {
        r
    } else {
        1.0
    }
}

impl Rule {
    /// A rule matching every span, at `sample_rate`.
    pub(crate) fn catch_all(sample_rate: f64) -> Self {
        Rule {
            sample_rate: clamp_rate(sample_rate),
            service: None,
            name: None,
            resource: None,
            tags: Vec::new(),
            provenance: Provenance::Default,
            discard: false,
        }
    }

    /// `SamplingRule.matches`: every given pattern matches.
    pub(crate) fn matches<'a>(
        &self,
        service: &str,
        name: &str,
        resource: &str,
        tag: impl Fn(&str) -> Option<TagValue<'a>>,
    ) -> bool {
        for (key, glob) in &self.tags {
            let value = match tag(key) {
                Some(TagValue::Str(s)) => s.to_owned(),
                Some(TagValue::Int(i)) => i.to_string(),
                Some(TagValue::Float(f)) if f.fract() == 0.0 && f.is_finite() => {
                    // Python's `str(int(f))`.
                    format!("{f:.0}")
                }
                Some(TagValue::Float(f)) if glob.wildcards_only => py_float_repr(f),
                _ => return false,
            };
            if !glob.matches(&value) {
                return false;
            }
        }
        let props = [
            (service, &self.service),
            (name, &self.name),
            (resource, &self.resource),
        ];
        props
            .iter()
            .all(|(value, glob)| glob.as_ref().is_none_or(|g| g.matches(value)))
    }
}

/// Python's `repr(float)` closely enough for a wildcards-only pattern,
/// which only sees its length: exponent form below 1e-4 and from 1e16.
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            return format!("{m}e{sign}{digits:0>2}");
        }
        s
    } else {
        format!("{f:?}")
    }
}

/// Why the rules could not all be read; the rules before the bad one are
/// kept, as ddtrace does.
pub(crate) type RulesError = String;

/// `set_sampling_rules`: a JSON list of `{"sample_rate", "service", "name",
/// "resource", "tags", "provenance"}` objects. A rule without `sample_rate`
/// is skipped; the first invalid one ends the list (the rules before it
/// stay), and is reported.
pub(crate) fn parse_rules(json: &str) -> (Vec<Rule>, Option<RulesError>) {
    let mut rules = Vec::new();
    let list = match json_parse::parse(json) {
        Ok(Value::Array(list)) => list,
        Ok(_) => return (rules, Some("expected a JSON list of rules".into())),
        Err(e) => return (rules, Some(format!("not JSON: {e}"))),
    };
    let mut error = None;
    for item in &list {
        let Some(obj) = item.as_object() else {
            error = Some(format!("a rule is not an object: {item}"));
            break;
        };
        if !obj.contains_key("sample_rate") {
            continue;
        }
        match rule(obj) {
            Ok(r) => rules.push(r),
            Err(e) => {
                error = Some(format!("{e} in rule {item}"));
                break;
            }
        }
    }
    rules.sort_by_key(|r| r.provenance);
    (rules, error)
}

fn rule(obj: &BTreeMap<String, Value>) -> Result<Rule, String> {
    let mut r = Rule::catch_all(1.0);
    for (key, value) in obj {
        let pattern = || -> Result<Option<Glob>, String> {
            match value {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(Glob::new(s))),
                _ => Err(format!("`{key}` is not a string")),
            }
        };
        match key.as_str() {
            "sample_rate" => r.sample_rate = clamp_rate(py_float(value)?),
            "service" => r.service = pattern()?,
            "name" => r.name = pattern()?,
            // An empty resource pattern is no pattern (`if resource`).
            "resource" => r.resource = pattern()?.filter(|g| !g.pattern.is_empty()),
            "tags" => match value {
                Value::Object(tags) => {
                    r.tags = tags
                        .iter()
                        .map(|(k, v)| (k.clone(), Glob::new(&py_str(v))))
                        .collect();
                }
                Value::Null => {}
                _ => return Err("`tags` is not an object".into()),
            },
            "provenance" => {
                r.provenance = match value.as_str() {
                    Some("customer") => Provenance::Customer,
                    Some("dynamic") => Provenance::Dynamic,
                    Some("default") => Provenance::Default,
                    _ => return Err("unknown `provenance`".into()),
                }
            }
            "discard" => {
                r.discard = value.as_bool().ok_or("`discard` is not a boolean")?;
            }
            other => return Err(format!("unknown key `{other}`")),
        }
    }
    Ok(r)
}

/// Python's `float(value)` of a JSON value.
fn py_float(value: &Value) -> Result<f64, String> {
    let bad = || format!("`sample_rate` {value} is not a number");
    match value {
        Value::Number(_) => value.as_f64().ok_or_else(bad),
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::String(s) => {
            let t = s.trim().to_ascii_lowercase();
            match t.as_str() {
                "nan" | "+nan" | "-nan" => Ok(f64::NAN),
                "inf" | "+inf" | "infinity" | "+infinity" => Ok(f64::INFINITY),
                "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
                _ => t.replace('_', "").parse::<f64>().map_err(|_| bad()),
            }
        }
        _ => Err(bad()),
    }
}

/// Python's `str(value)` of a JSON value (tag patterns).
fn py_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(n) => match (value.as_i64(), value.as_u64(), value.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => py_float_repr(f),
            _ => n.clone(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outcomes of ddtrace 4.16's `GlobMatcher`.
    #[test]
    fn glob_matches_as_ddtrace() {
        let cases = [
            ("*", "", true),
            ("?", "", false),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("A?C", "abc", true),
            ("*-db", "users-DB", true),
            ("**", "x", true),
            ("a*b*c", "aXbYbZc", true),
            ("", "", true),
            ("", "a", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).matches(s), want, "{p:?} {s:?}");
        }
    }

    #[test]
    fn rules_parse_as_ddtrace() {
        let (rules, err) = parse_rules(
            r#"[{"sample_rate":0.5,"service":"a*"},{"name":"x"},
                {"sample_rate":"2","provenance":"customer"},{"sample_rate":"x"},{"sample_rate":1}]"#,
        );
        assert!(err.is_some());
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].provenance, Provenance::Customer);
        assert_eq!(rules[0].sample_rate, 1.0);
        assert_eq!(rules[1].sample_rate, 0.5);
        assert_eq!(py_float_repr(1.5e-5), "1.5e-05");
        assert_eq!(py_float_repr(0.25), "0.25");
    }
}
