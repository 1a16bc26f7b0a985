//! The DogStatsD wire encoder: metric lines packed into datagrams.
//!
//! No I/O happens here: complete datagrams are handed to a callback. Names
//! and tags must already be sanitised (see [`crate::sanitize`]); the
//! encoder only assembles `name:v1:v2|type|@rate|#tags|T<ts>` lines
//! (protocol 1.1 multi-value, 1.3 timestamps), splits a multi-value line
//! when it would not fit, and packs lines, each ending with `\n` (as
//! datadogpy and datadog-go write them, and as an Agent with
//! `dogstatsd_eol_required` demands), into datagrams of at most
//! `max_payload` bytes.

use std::fmt;

/// The DogStatsD metric types this encoder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MetricType {
    /// `c`
    Count,
    /// `g`
    Gauge,
    /// `d`
    Distribution,
    /// `h`
    Histogram,
    /// `ms`
    Timing,
    /// `s`
    Set,
}

impl MetricType {
    /// The type token on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            MetricType::Count => "c",
            MetricType::Gauge => "g",
            MetricType::Distribution => "d",
            MetricType::Histogram => "h",
            MetricType::Timing => "ms",
            MetricType::Set => "s",
        }
    }

    /// Parses a type token.
    pub fn from_wire(s: &str) -> Option<Self> {
        Some(match s {
            "c" => MetricType::Count,
            "g" => MetricType::Gauge,
            "d" => MetricType::Distribution,
            "h" => MetricType::Histogram,
            "ms" => MetricType::Timing,
            "s" => MetricType::Set,
            _ => return None,
        })
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything after the values of a line: `|type[|@rate]|#tags[|T<ts>]`
/// plus any extra fields (such as `|c:<container>`), built once per series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Suffix(String);

impl Suffix {
    /// Builds a suffix. `tags` are sanitised, comma-separated tags (no `#`);
    /// `extra` is appended verbatim and must start with `|` (or be empty).
    pub fn new(
        kind: MetricType,
        sample_rate: Option<f64>,
        tags: &str,
        timestamp: Option<u64>,
        extra: &str,
    ) -> Self {
        let mut s = String::with_capacity(8 + tags.len() + extra.len());
        s.push('|');
        s.push_str(kind.as_str());
        if let Some(rate) = sample_rate.filter(|r| *r < 1.0 && *r > 0.0) {
            s.push_str("|@");
            s.push_str(ryu::Buffer::new().format_finite(rate));
        }
        if !tags.is_empty() {
            s.push_str("|#");
            s.push_str(tags);
        }
        if let Some(ts) = timestamp {
            s.push_str("|T");
            s.push_str(itoa::Buffer::new().format(ts));
        }
        s.push_str(extra);
        Suffix(s)
    }

    /// The suffix as it goes on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why values were not encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Values that were NaN or infinite.
    pub non_finite: u64,
    /// Values whose line cannot fit in one datagram (name and tags too long).
    pub too_long: u64,
}

/// Writes `v` as DogStatsD expects: integers without a fraction, other
/// values in the shortest form that parses back to the same `f64`, except
/// that a value within one ulp of a whole number of nanoseconds (below
/// 10^6 s) is written as that number of nanoseconds: durations are
/// computed as `nanos * 1e-9` or `Duration::as_secs_f64`, whose rounding
/// puts them one ulp off the decimal they measure (3,218,211 ns becomes
/// `0.0032182110000000003`, 21 bytes, where `0.003218211`, 11, is the
/// measurement). The value read back then differs from `v` by at most one
/// ulp (2.2 × 10^-16 relative). Returns `false` (and writes nothing) for
/// NaN and infinities.
pub fn push_value(out: &mut Vec<u8>, v: f64) -> bool {
    if !v.is_finite() {
        return false;
    }
    let v = nearest_nanosecond(v);
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        // Whole numbers below 2^53 print exactly as integers.
        out.extend_from_slice(itoa::Buffer::new().format(v as i64).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
    true
}

/// `v`, or the `f64` of the whole number of nanoseconds one ulp away from
/// it. Below 10^6 s an ulp is under 2.4 × 10^-10 s, so the nanoseconds
/// `(v * 1e9).round()` are exact and `n / 1e9` (one correctly rounded
/// division) is the `f64` the decimal `n × 10^-9` parses to.
#[inline]
fn nearest_nanosecond(v: f64) -> f64 {
    if v.abs() >= 1e6 {
        return v;
    }
    let c = (v * 1e9).round() / 1e9;
    // Same sign (or zero) and one bit apart: one ulp.
    if c != v && (c.to_bits() as i64 - v.to_bits() as i64).abs() == 1 {
        c
    } else {
        v
    }
}

/// Packs metric lines into datagrams.
///
/// ```
/// use pipeline_telemetry_dogstatsd::encoder::{Encoder, MetricType, Suffix};
///
/// let mut enc = Encoder::new(1432);
/// let mut datagrams = Vec::new();
/// let suffix = Suffix::new(MetricType::Distribution, None, "stage:dbt", None, "");
/// enc.encode("pipeline.stage.duration", &[0.5, 1.25], &suffix, &mut |d| datagrams.push(d.to_vec()));
/// enc.finish(&mut |d| datagrams.push(d.to_vec()));
/// assert_eq!(datagrams, vec![b"pipeline.stage.duration:0.5:1.25|d|#stage:dbt\n".to_vec()]);
/// ```
#[derive(Debug)]
pub struct Encoder {
    max_payload: usize,
    packet: Vec<u8>,
    line: Vec<u8>,
    skipped: Skipped,
}

impl Encoder {
    /// An encoder whose datagrams hold at most `max_payload` bytes (at least 64).
    pub fn new(max_payload: usize) -> Self {
        let max_payload = max_payload.max(64);
        Encoder {
            max_payload,
            packet: Vec::with_capacity(max_payload),
            line: Vec::with_capacity(max_payload),
            skipped: Skipped::default(),
        }
    }

    /// The largest datagram this encoder produces.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Takes the counts of values skipped since the last call.
    pub fn take_skipped(&mut self) -> Skipped {
        std::mem::take(&mut self.skipped)
    }

    /// Encodes one series with one or more values (several values make a
    /// multi-value line, split into as many lines as needed). Complete
    /// datagrams are passed to `emit`.
    pub fn encode(
        &mut self,
        name: &str,
        values: &[f64],
        suffix: &Suffix,
        emit: &mut dyn FnMut(&[u8]),
    ) {
        let suffix = suffix.as_str().as_bytes();
        // Every line ends with `\n`: a line holds at most `max_payload - 1` bytes.
        let room = self.max_payload - 1;
        let fixed = name.len() + suffix.len();
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let mut in_line = 0usize;
        let mut scratch = Vec::with_capacity(32);
        for &v in values {
            scratch.clear();
            if !push_value(&mut scratch, v) {
                self.skipped.non_finite += 1;
                continue;
            }
            if fixed + 1 + scratch.len() > room {
                self.skipped.too_long += 1;
                continue;
            }
            if in_line > 0 && line.len() + 1 + scratch.len() + suffix.len() > room {
                line.extend_from_slice(suffix);
                self.push_line(&line, emit);
                line.clear();
                in_line = 0;
            }
            if in_line == 0 {
                line.extend_from_slice(name.as_bytes());
            }
            line.push(b':');
            line.extend_from_slice(&scratch);
            in_line += 1;
        }
        if in_line > 0 {
            line.extend_from_slice(suffix);
            self.push_line(&line, emit);
        }
        self.line = line;
    }

    /// Adds a complete line (without its trailing newline, which is added
    /// here) to the current datagram, emitting the datagram first if the
    /// line does not fit. Lines that cannot fit in `max_payload` bytes with
    /// their newline are dropped and counted.
    pub fn push_line(&mut self, line: &[u8], emit: &mut dyn FnMut(&[u8])) {
        let needed = line.len() + 1;
        if needed > self.max_payload {
            self.skipped.too_long += 1;
            return;
        }
        if self.packet.len() + needed > self.max_payload {
            self.finish(emit);
        }
        self.packet.extend_from_slice(line);
        self.packet.push(b'\n');
    }

    /// Emits the datagram being filled, if any.
    pub fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.packet.is_empty() {
            emit(&self.packet);
            self.packet.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, name: &str, values: &[f64], suffix: &Suffix) -> Vec<String> {
        let mut enc = Encoder::new(max);
        let mut out = Vec::new();
        let mut emit = |d: &[u8]| out.push(String::from_utf8(d.to_vec()).expect("utf8"));
        enc.encode(name, values, suffix, &mut emit);
        enc.finish(&mut emit);
        out
    }

    #[test]
    fn integers_have_no_fraction_and_floats_round_trip() {
        let mut v = Vec::new();
        push_value(&mut v, 3.0);
        assert_eq!(v, b"3");
        v.clear();
        push_value(&mut v, 1.0 / 3.0);
        let back: f64 = std::str::from_utf8(&v).expect("utf8").parse().expect("f64");
        assert_eq!(back, 1.0 / 3.0);
        // One ulp above 0.3 s: written as the 300 ms it measures.
        v.clear();
        push_value(&mut v, 0.1 + 0.2);
        assert_eq!(v, b"0.3");
        assert!(!push_value(&mut v, f64::NAN));
    }

    #[test]
    fn durations_are_written_at_nanosecond_resolution() {
        let mut v = Vec::new();
        push_value(&mut v, 3_218_211.0 * 1e-9);
        assert_eq!(v, b"0.003218211");
        v.clear();
        push_value(
            &mut v,
            std::time::Duration::from_nanos(1_500_000_001).as_secs_f64(),
        );
        assert_eq!(v, b"1.500000001");
        // Two ulps off a nanosecond: a measurement of finer grain, kept.
        v.clear();
        let fine = f64::from_bits((0.003218211f64).to_bits() + 2);
        push_value(&mut v, fine);
        let back: f64 = std::str::from_utf8(&v).expect("utf8").parse().expect("f64");
        assert_eq!(back, fine);
    }

    #[test]
    fn long_distributions_split_into_lines_that_fit() {
        let suffix = Suffix::new(MetricType::Distribution, None, "stage:x", None, "");
        let values: Vec<f64> = (0..1000).map(|i| i as f64 + 0.123).collect();
        let datagrams = run(200, "m", &values, &suffix);
        let mut n = 0;
        for d in &datagrams {
            assert!(d.len() <= 200, "{}", d.len());
            assert!(d.ends_with('\n'));
            for line in d.strip_suffix('\n').expect("newline").split('\n') {
                assert!(line.ends_with("|d|#stage:x"));
                n += line.split('|').next().expect("head").split(':').count() - 1;
            }
        }
        assert_eq!(n, 1000);
    }

    #[test]
    fn suffix_has_rate_tags_and_timestamp() {
        let s = Suffix::new(MetricType::Count, Some(0.5), "a:b", Some(1_700_000_000), "");
        assert_eq!(s.as_str(), "|c|@0.5|#a:b|T1700000000");
        let s = Suffix::new(MetricType::Gauge, Some(1.0), "", None, "|c:abc");
        assert_eq!(s.as_str(), "|g|c:abc");
    }

    #[test]
    fn a_line_that_cannot_fit_is_counted_not_sent() {
        let suffix = Suffix::new(MetricType::Count, None, &"t".repeat(100), None, "");
        let mut enc = Encoder::new(64);
        let mut out = Vec::new();
        enc.encode("m", &[1.0], &suffix, &mut |d| out.push(d.to_vec()));
        enc.finish(&mut |d| out.push(d.to_vec()));
        assert!(out.is_empty());
        assert_eq!(enc.take_skipped().too_long, 1);
    }
}
