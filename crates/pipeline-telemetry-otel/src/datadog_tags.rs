//! The `x-datadog-tags` tag set and the number forms of the `x-datadog-*`
//! headers, as ddtrace-py 4.x reads and writes them
//! (`ddtrace/internal/_tagset` and `_DatadogMultiHeader` in
//! `ddtrace/propagation/http.py`; the tag-set rules were checked against
//! ddtrace 4.16.0's compiled `_tagset` with the cases in the tests below).

/// Longest `x-datadog-tags` value read: ddtrace's decoder refuses longer ones
/// (`TagsetMaxSizeDecodeError`).
pub(crate) const MAX_TAGS_DECODE_LEN: usize = 512;

/// Why a tag set could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagsetError {
    /// Longer than [`MAX_TAGS_DECODE_LEN`]: `_dd.propagation_error=extract_max_size`.
    MaxSize,
    /// Malformed: `_dd.propagation_error=decoding_error`.
    Decoding,
}

fn is_key_byte(b: u8) -> bool {
    (0x21..=0x7e).contains(&b) && b != b',' && b != b'='
}

fn is_value_byte(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b','
}

/// Decodes `k=v,k=v` as ddtrace's `decode_tagset_string`: keys are printable
/// ASCII without space, comma or `=`; values printable ASCII without comma,
/// trimmed of spaces, not empty; one trailing comma is allowed; a later
/// duplicate key wins.
pub(crate) fn decode_tagset(value: &str) -> Result<Vec<(String, String)>, TagsetError> {
    if value.len() > MAX_TAGS_DECODE_LEN {
        return Err(TagsetError::MaxSize);
    }
    let body = value.strip_suffix(',').unwrap_or(value);
    let mut tags: Vec<(String, String)> = Vec::new();
    for item in body.split(',') {
        let (key, val) = item.split_once('=').ok_or(TagsetError::Decoding)?;
        let val = val.trim_matches(' ');
        let ok = !key.is_empty()
            && key.bytes().all(is_key_byte)
            && !val.is_empty()
            && val.bytes().all(is_value_byte);
        if !ok {
            return Err(TagsetError::Decoding);
        }
        tags.retain(|(k, _)| k != key);
        tags.push((key.to_owned(), val.to_owned()));
    }
    Ok(tags)
}

/// Encodes tags as ddtrace's `encode_tagset_values`: values trimmed; `None`
/// when a key or value is not allowed (`encoding_error`) or the result is
/// longer than `max_len` (`inject_max_size`): then no header is written.
pub(crate) fn encode_tagset(tags: &[(String, String)], max_len: usize) -> Option<String> {
    let mut out = String::new();
    for (key, val) in tags {
        let val = val.trim_matches(' ');
        let ok = !key.is_empty()
            && key.bytes().all(is_key_byte)
            && !val.is_empty()
            && val.bytes().all(is_value_byte);
        if !ok {
            return None;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(val);
    }
    (out.len() <= max_len).then_some(out)
}

/// A header number as Python's `int(str)` reads it (surrounding whitespace,
/// a sign, `_` between digits), limited to ASCII digits and to what fits
/// an `i128`; `None` where Python raises `ValueError` or the value is out of
/// that range.
pub(crate) fn py_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let b = digits.as_bytes();
    if b.is_empty() || b[0] == b'_' || b[b.len() - 1] == b'_' || digits.contains("__") {
        return None;
    }
    let mut n: i128 = 0;
    for &c in b {
        if c == b'_' {
            continue;
        }
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i128::from(c - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

/// ddtrace's `_higher_order_is_valid`: 16 lower-case hex digits, not all 0.
pub(crate) fn parse_tid(hex: &str) -> Option<u64> {
    let ok = hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
        .filter(|&v| v != 0)
}

/// ddtrace's `validate_sampling_decision`: `_dd.p.dm` must be `-0` … `-255`.
pub(crate) fn valid_decision_maker(value: &str) -> bool {
    value
        .strip_prefix('-')
        .filter(|d| !d.is_empty() && d.len() <= 3 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u16>().ok())
        .is_some_and(|n| n <= 255 && (n.to_string().len() == value.len() - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The outcomes ddtrace 4.16.0's `decode_tagset_string` gives.
    #[test]
    fn decode_matches_ddtrace() {
        let ok = [
            (
                "_dd.p.dm=-4,_dd.p.tid=640cfd8d00000000",
                pairs(&[("_dd.p.dm", "-4"), ("_dd.p.tid", "640cfd8d00000000")]),
            ),
            ("a=b,", pairs(&[("a", "b")])),
            ("a=b=c", pairs(&[("a", "b=c")])),
            ("a=b c", pairs(&[("a", "b c")])),
            ("a=1,a=2", pairs(&[("a", "2")])),
            ("a= b ,c=d", pairs(&[("a", "b"), ("c", "d")])),
            ("a=~", pairs(&[("a", "~")])),
        ];
        for (input, want) in ok {
            assert_eq!(decode_tagset(input), Ok(want), "{input:?}");
        }
        for bad in [
            " _dd.p.a = b ",
            ",a=b",
            "a",
            "a b=c",
            "=v",
            "k=",
            "a=\u{e9}",
            "a=\t",
            "a=b\x7f",
            "a=b,c",
            "a=b,,c=d",
        ] {
            assert_eq!(decode_tagset(bad), Err(TagsetError::Decoding), "{bad:?}");
        }
        let at_limit = format!("a={}", "x".repeat(510));
        assert!(decode_tagset(&at_limit).is_ok());
        let over = format!("a={}", "x".repeat(511));
        assert_eq!(decode_tagset(&over), Err(TagsetError::MaxSize));
    }

    /// The outcomes ddtrace 4.16.0's `encode_tagset_values` gives.
    #[test]
    fn encode_matches_ddtrace() {
        let e = |v: &[(&str, &str)]| encode_tagset(&pairs(v), 512);
        assert_eq!(
            e(&[("_dd.p.a", "b"), ("_dd.p.c", "d")]).as_deref(),
            Some("_dd.p.a=b,_dd.p.c=d")
        );
        assert_eq!(e(&[("_dd.p.a", " x ")]).as_deref(), Some("_dd.p.a=x"));
        for bad in [
            [("_dd.p.a", "b,c")],
            [("_dd.p a", "b")],
            [("_dd.p.a", "\u{e9}")],
            [("_dd.p.a", "")],
        ] {
            assert_eq!(e(&bad), None);
        }
        let v = |n: usize| pairs(&[("_dd.p.a", &"x".repeat(n - 8))]);
        assert_eq!(encode_tagset(&v(512), 512).map(|s| s.len()), Some(512));
        assert_eq!(encode_tagset(&v(513), 512), None);
    }

    #[test]
    fn numbers_read_as_python_int() {
        assert_eq!(py_int(" 42 "), Some(42));
        assert_eq!(py_int("+4_2"), Some(42));
        assert_eq!(py_int("-1"), Some(-1));
        for bad in [
            "",
            "_1",
            "1_",
            "1__2",
            "0x10",
            "1e3",
            "٣",
            "99999999999999999999999999999999999999999",
        ] {
            assert_eq!(py_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tid_and_decision_maker() {
        assert_eq!(parse_tid("640cfd8d00000000"), Some(0x640c_fd8d_0000_0000));
        for bad in [
            "0000000000000000",
            "640CFD8D00000000",
            "640cfd8d0000000",
            "640cfd8d000000000",
        ] {
            assert_eq!(parse_tid(bad), None);
        }
        assert!(valid_decision_maker("-0") && valid_decision_maker("-255"));
        for bad in ["-256", "4", "-", "-04", "--1", "-1a"] {
            assert!(!valid_decision_maker(bad), "{bad}");
        }
    }
}
