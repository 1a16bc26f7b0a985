//! The Agent's reading of a DogStatsD metric line and what it inserts into
//! a distribution's sketch, ported from DataDog/datadog-agent and the
//! quantile package it uses:
//!
//! - `comp/dogstatsd/server/impl/parse.go`, `parseMetricSample`: the name
//!   before the first `:`, the values (`parseFloat64List`: split at `:`,
//!   empty values skipped, each parsed by `strconv.ParseFloat(_, 64)`), the
//!   type, then optional fields: `#` tags, `@` sample rate (parsed as a
//!   float64, default 1), `T` timestamp, the rest ignored here;
//! - `enrich.go`, `enrichMetricSample`: one sample per value, each with the
//!   line's sample rate;
//! - `pkg/aggregator/sketch_map.go`, `insert`: NaN and infinities dropped,
//!   then `quantile.Agent.Insert(v, sampleRate)`
//!   (DataDog/opentelemetry-mapping-go `pkg/quantile/agent.go`): a rate
//!   outside `(0, 1]` becomes 1; at 1 the value is inserted once
//!   (`Summary.Insert`); otherwise `n := 1 / sampleRate` (float64), then
//!   `Summary.InsertN(v, n)` (`pkg/quantile/summary.go`: `Cnt` grows by
//!   `int64(n)`, `Sum` by `n * v`) and a bin count of `uint(n)`.
//!
//! Go's `strconv.ParseFloat` and Rust's `str::parse::<f64>` both round
//! correctly, and Go's float-to-integer conversions truncate toward zero as
//! `as` does for the values that occur here.

use std::collections::BTreeMap;

/// One metric line as the Agent's parser reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AgentMetricSample {
    pub name: String,
    pub values: Vec<f64>,
    pub kind: String,
    pub sample_rate: f64,
    pub tags: Vec<String>,
}

fn parse_float64(raw: &[u8]) -> Result<f64, String> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("invalid float {:?}", String::from_utf8_lossy(raw)))
}

/// `parseMetricSample`, for the metric types that carry numbers.
pub(crate) fn parse_metric_sample(message: &[u8]) -> Result<AgentMetricSample, String> {
    if !message.contains(&b'|') {
        return Err("invalid dogstatsd message format".into());
    }
    let (raw_name_and_value, rest) = super::next_field(message);
    let sep = raw_name_and_value
        .iter()
        .position(|&b| b == b':')
        .ok_or("invalid name and value")?;
    let (name, raw_value) = (&raw_name_and_value[..sep], &raw_name_and_value[sep + 1..]);
    if name.is_empty() || raw_value.is_empty() {
        return Err("invalid name and value".into());
    }
    let (raw_type, mut rest) = super::next_field(rest.unwrap_or_default());
    let kind = match raw_type {
        b"g" | b"c" | b"h" | b"d" | b"ms" => String::from_utf8_lossy(raw_type).into_owned(),
        _ => return Err(format!("invalid metric type {raw_type:?}")),
    };
    // parseFloat64List: split at ':', skipping empty values.
    let values = raw_value
        .split(|&b| b == b':')
        .filter(|v| !v.is_empty())
        .map(parse_float64)
        .collect::<Result<Vec<_>, _>>()?;
    if values.is_empty() {
        return Err("no value found".into());
    }
    let mut sample = AgentMetricSample {
        name: String::from_utf8_lossy(name).into_owned(),
        values,
        kind,
        sample_rate: 1.0,
        tags: Vec::new(),
    };
    while let Some(r) = rest {
        let (field, more) = super::next_field(r);
        rest = more;
        if let Some(t) = field.strip_prefix(b"#") {
            sample.tags = super::parse_tags(t);
        } else if let Some(rate) = field.strip_prefix(b"@") {
            sample.sample_rate = parse_float64(rate)?;
        }
    }
    Ok(sample)
}

/// What the Agent's sketch for one series holds: its summary and its
/// (value, count) insertions (the bins, before DDSketch's keying).
#[derive(Debug, Clone, Default)]
pub(crate) struct AgentSketch {
    pub cnt: i64,
    pub sum: f64,
    pub inserted: Vec<(f64, u64)>,
}

impl AgentSketch {
    /// `sketchMap.insert` then `quantile.Agent.Insert(v, sampleRate)`.
    pub(crate) fn insert(&mut self, v: f64, sample_rate: f64) {
        if v.is_nan() || v.is_infinite() {
            return;
        }
        let mut rate = sample_rate;
        if rate <= 0.0 || rate > 1.0 {
            rate = 1.0;
        }
        if rate == 1.0 {
            self.cnt += 1;
            self.sum += v;
            self.inserted.push((v, 1));
        } else {
            // use truncated 1 / sampleRate as count to match histograms
            let n = 1.0 / rate;
            self.cnt += n as i64;
            self.sum += n * v;
            self.inserted.push((v, n as u64));
        }
    }

    /// Inserts every value of a parsed line, as `enrichMetricSample` and
    /// the time sampler do.
    pub(crate) fn insert_line(&mut self, sample: &AgentMetricSample) {
        for &v in &sample.values {
            self.insert(v, sample.sample_rate);
        }
    }

    /// The `q` quantile of what was inserted (exact, by counts: DDSketch
    /// would add its 1 % relative error).
    pub(crate) fn quantile(&self, q: f64) -> f64 {
        let mut sorted = self.inserted.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total: u64 = sorted.iter().map(|s| s.1).sum();
        let rank = (q * total as f64).ceil().max(1.0) as u64;
        let mut acc = 0;
        for (v, n) in sorted {
            acc += n;
            if acc >= rank {
                return v;
            }
        }
        f64::NAN
    }
}

/// The Agent's sketch of every series (`name|#tags`) whose name starts
/// with `prefix`, and how many values arrived for it.
pub(crate) fn agent_sketches(
    lines: &[String],
    prefix: &str,
) -> BTreeMap<String, (AgentSketch, usize)> {
    let mut out: BTreeMap<String, (AgentSketch, usize)> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.starts_with(prefix)) {
        let m = parse_metric_sample(l.as_bytes()).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert_eq!(m.kind, "d", "{l}");
        let entry = out
            .entry(format!("{}|#{}", m.name, m.tags.join(",")))
            .or_default();
        entry.0.insert_line(&m);
        entry.1 += m.values.len();
    }
    out
}
