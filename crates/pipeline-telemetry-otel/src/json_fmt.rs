//! The two pieces of JSON writing the log layer needs: strings escaped so
//! that nothing in user data can end a line or a value, and RFC 3339 UTC
//! timestamps.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Appends `s` as a JSON string literal, quotes included. Control characters
/// (newlines too) and the line/paragraph separators are escaped, so the
/// output never contains a raw line break.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `"key":` (escaped).
pub(crate) fn push_key(out: &mut String, key: &str) {
    push_str(out, key);
    out.push(':');
}

/// Appends a finite float, or a string for NaN and infinities (which JSON
/// cannot carry as numbers).
pub(crate) fn push_f64(out: &mut String, v: f64) {
    if v.is_finite() {
        let _ = write!(out, "{v}");
    } else {
        push_str(out, &v.to_string());
    }
}

/// Appends `time` as `"2026-01-31T12:34:56.789Z"`.
pub(crate) fn push_timestamp(out: &mut String, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "\"{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z\"",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_millis()
    );
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn escapes_everything_that_could_break_a_line() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\nd\re\tf\u{0}g\u{1b}h\u{2028}i é");
        assert_eq!(out, r#""a\"b\\c\nd\re\tf\u0000g\u001bh\u2028i é""#);
        assert!(!out.contains('\n'));
        let back: String = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(back, "a\"b\\c\nd\re\tf\u{0}g\u{1b}h\u{2028}i é");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let mut out = String::new();
        push_timestamp(
            &mut out,
            UNIX_EPOCH + Duration::from_millis(1_764_000_000_123),
        );
        assert_eq!(out, "\"2025-11-24T16:00:00.123Z\"");
        out.clear();
        push_timestamp(&mut out, UNIX_EPOCH + Duration::from_secs(951_782_400)); // leap day
        assert_eq!(out, "\"2000-02-29T00:00:00.000Z\"");
    }

    #[test]
    fn non_finite_floats_become_strings() {
        let mut out = String::new();
        push_f64(&mut out, f64::NAN);
        assert_eq!(out, "\"NaN\"");
    }
}
