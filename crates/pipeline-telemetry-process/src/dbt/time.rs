//! dbt's timestamps: `YYYY-MM-DDTHH:MM:SS[.frac][Z|+00:00]`, read without
//! a date library and without panicking on any text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Years a dbt timestamp may name: from the Unix epoch to the last year
/// whose instants fit in signed 64-bit nanoseconds (what span exporters
/// and Datadog use). Anything else is not a time dbt wrote.
const YEARS: std::ops::RangeInclusive<i64> = 1970..=2261;

/// `YYYY-MM-DDTHH:MM:SS[.frac][Z|+00:00]` in UTC, as dbt writes it.
pub(crate) fn parse_utc(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let s = s
        .strip_suffix('Z')
        .or_else(|| s.strip_suffix("+00:00"))
        .unwrap_or(s);
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    if !YEARS.contains(&year) {
        return None;
    }
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let h: u64 = t.next()?.parse().ok()?;
    let m: u64 = t.next()?.parse().ok()?;
    let sec: u64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        digits.parse::<u32>().ok()?
    };
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let secs = days
        .checked_mul(86_400)?
        .checked_add(h * 3600 + m * 60 + sec)?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse() {
        let t = parse_utc("2024-02-29T23:59:58.5Z").expect("valid");
        let d = t.duration_since(UNIX_EPOCH).expect("after epoch");
        assert_eq!(d.as_secs(), 1_709_251_198);
        assert_eq!(d.subsec_millis(), 500);
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "x",
            "2024-01-01T00:00:00.1e3Z",
            // Absurd years: the old arithmetic overflowed (a panic).
            "99999999999999-01-01T00:00:00Z",
            "9223372036854775807-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
            "2262-06-01T00:00:00Z",
        ] {
            assert!(parse_utc(bad).is_none(), "{bad}");
        }
    }
}
