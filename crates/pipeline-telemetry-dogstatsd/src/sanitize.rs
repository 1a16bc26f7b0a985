//! Datadog's naming rules, applied before anything reaches the wire.
//!
//! - Metric names keep ASCII letters, digits, `_` and `.`; every other
//!   character becomes `_`; at most [`MAX_NAME_LEN`] characters.
//! - Tags keep Unicode letters and digits, `_`, `-`, `.`, `/` and (in the
//!   value only) `:`; every other character becomes `_`; at most
//!   [`MAX_TAG_LEN`] characters in all.
//!
//! After sanitising, no name or tag can contain `|`, `#`, `,`, `@`, `\n`
//! or any other character that separates fields, lines or tags in a
//! DogStatsD datagram, so user input cannot split or inject a line.

/// The longest metric name Datadog accepts, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// The longest tag Datadog accepts (`key:value`), in characters.
pub const MAX_TAG_LEN: usize = 200;

/// Whether `c` may stand in a metric name as it is.
#[inline]
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Whether `c` may stand in a tag key as it is.
#[inline]
pub fn is_tag_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Whether `c` may stand in a tag value as it is.
#[inline]
pub fn is_tag_value_char(c: char) -> bool {
    is_tag_key_char(c) || c == ':'
}

/// Appends the sanitised form of a metric name to `out`.
///
/// An empty name becomes `unnamed`.
///
/// ```
/// let mut s = String::new();
/// pipeline_telemetry_dogstatsd::sanitize::push_name(&mut s, "my app|latency\n");
/// assert_eq!(s, "my_app_latency_");
/// ```
pub fn push_name(out: &mut String, raw: &str) {
    if raw.is_empty() {
        out.push_str("unnamed");
        return;
    }
    for c in raw.chars().take(MAX_NAME_LEN) {
        out.push(if is_name_char(c) { c } else { '_' });
    }
}

/// Returns the sanitised form of a metric name.
pub fn name(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len().min(MAX_NAME_LEN));
    push_name(&mut s, raw);
    s
}

/// Appends one sanitised tag to `out` (without a separator).
///
/// `key:value` when both are non-empty, only the key when the value is
/// empty, only the value when the key is empty; nothing when both are.
/// The whole tag is cut to [`MAX_TAG_LEN`] characters.
///
/// ```
/// let mut s = String::new();
/// pipeline_telemetry_dogstatsd::sanitize::push_tag(&mut s, "stage", "a|#x:1\nevil:1|c");
/// assert_eq!(s, "stage:a__x:1_evil:1_c");
/// ```
pub fn push_tag(out: &mut String, key: &str, value: &str) {
    let mut budget = MAX_TAG_LEN;
    for c in key.chars() {
        if budget == 0 {
            return;
        }
        out.push(if is_tag_key_char(c) { c } else { '_' });
        budget -= 1;
    }
    if value.is_empty() {
        return;
    }
    if !key.is_empty() {
        if budget == 0 {
            return;
        }
        out.push(':');
        budget -= 1;
    }
    for c in value.chars() {
        if budget == 0 {
            return;
        }
        out.push(if is_tag_value_char(c) { c } else { '_' });
        budget -= 1;
    }
}

/// Appends a raw `key:value` or bare tag (as found in `DD_TAGS`) to `out`,
/// splitting at the first `:`.
pub fn push_raw_tag(out: &mut String, raw: &str) {
    match raw.split_once(':') {
        Some((k, v)) => push_tag(out, k, v),
        None => push_tag(out, raw, ""),
    }
}

/// Joins sanitised tags with `,` into `out`, skipping empty ones.
pub fn push_tags<'a, I>(out: &mut String, tags: I)
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    for (k, v) in tags {
        if k.is_empty() && v.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        push_tag(out, k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_dots_and_underscores() {
        assert_eq!(name("pipeline.stage.duration"), "pipeline.stage.duration");
        assert_eq!(name("a-b c:d|e@f#g"), "a_b_c_d_e_f_g");
        assert_eq!(name(""), "unnamed");
        assert_eq!(name(&"x".repeat(500)).len(), MAX_NAME_LEN);
    }

    #[test]
    fn tags_keep_unicode_letters_and_value_colons() {
        let mut s = String::new();
        push_tag(&mut s, "pipeline", "café:v2/eu-west.1");
        assert_eq!(s, "pipeline:café:v2/eu-west.1");
        let mut s = String::new();
        push_tag(&mut s, "a:b", "");
        assert_eq!(s, "a_b");
    }

    #[test]
    fn long_tags_are_cut_at_a_char_boundary() {
        let mut s = String::new();
        push_tag(&mut s, "k", &"é".repeat(500));
        assert_eq!(s.chars().count(), MAX_TAG_LEN);
    }

    #[test]
    fn raw_tags_split_at_first_colon() {
        let mut s = String::new();
        push_raw_tag(&mut s, "team:data:eng");
        assert_eq!(s, "team:data:eng");
    }
}
