//! Datadog's naming rules, applied before anything reaches the wire.
//!
//! - Metric names keep ASCII letters, digits, `_` and `.`; every other
//!   character becomes `_`; at most [`MAX_NAME_LEN`] characters.
//! - Tags keep Unicode letters and digits, `_`, `-`, `.`, `/` and (in the
//!   value only) `:`; every other character becomes `_`; at most
//!   [`MAX_TAG_LEN`] characters in all. A tag starts with a letter
//!   (leading characters that are not letters are dropped; a tag with no
//!   letter is dropped), and a keyed tag with an empty value gets
//!   [`EMPTY_TAG_VALUE`]. Tags from `DD_TAGS` go through the same rules.
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

/// What an empty tag value becomes: a catalogue tag such as `pipeline`
/// never goes out without its value (`pipeline:unnamed`, not a bare
/// `pipeline` tag that no `pipeline:*` query finds).
pub const EMPTY_TAG_VALUE: &str = "unnamed";

/// Appends `chars` to `out` as a tag part: characters for which `keep` is
/// false become `_`; leading characters that are not letters are skipped
/// when `letter_first` (Datadog: a tag starts with a letter). Stops when
/// `budget` runs out; returns how many characters were written.
fn push_part(
    out: &mut String,
    raw: &str,
    keep: fn(char) -> bool,
    letter_first: bool,
    budget: usize,
) -> usize {
    let mut n = 0;
    let mut chars = raw.chars().peekable();
    if letter_first {
        while chars.next_if(|c| !c.is_alphabetic()).is_some() {}
    }
    for c in chars {
        if n == budget {
            break;
        }
        out.push(if keep(c) { c } else { '_' });
        n += 1;
    }
    n
}

/// Appends one sanitised `key:value` tag to `out` (without a separator);
/// returns whether anything was written.
///
/// The tag starts with a letter, as Datadog requires: leading characters of
/// the key that are not letters are dropped. An empty value becomes
/// [`EMPTY_TAG_VALUE`], so a keyed tag always carries a value. A key with
/// no letter at all leaves the value alone, cleaned as a bare tag (the way
/// the Agent normalises `1:foo` to `foo`); an empty key likewise. The key
/// keeps room for `:` and a value; the whole tag is cut to
/// [`MAX_TAG_LEN`] characters.
///
/// ```
/// use pipeline_telemetry_dogstatsd::sanitize::push_tag;
/// let mut s = String::new();
/// push_tag(&mut s, "stage", "a|#x:1\nevil:1|c");
/// assert_eq!(s, "stage:a__x:1_evil:1_c");
/// s.clear();
/// push_tag(&mut s, "pipeline", "");
/// assert_eq!(s, "pipeline:unnamed");
/// s.clear();
/// push_tag(&mut s, "1team", "data");
/// assert_eq!(s, "team:data");
/// ```
pub fn push_tag(out: &mut String, key: &str, value: &str) -> bool {
    let start = out.len();
    let key_len = push_part(out, key, is_tag_key_char, true, MAX_TAG_LEN - 2);
    if key_len == 0 {
        out.truncate(start);
        return push_bare_tag(out, value);
    }
    out.push(':');
    let value = if value.is_empty() {
        EMPTY_TAG_VALUE
    } else {
        value
    };
    let room = MAX_TAG_LEN - 1 - key_len;
    if push_part(out, value, is_tag_value_char, false, room) == 0 {
        // Nothing of the value fits or survives: the placeholder does.
        out.push_str(&EMPTY_TAG_VALUE[..EMPTY_TAG_VALUE.len().min(room)]);
    }
    true
}

/// Appends a sanitised bare tag (no key; `:` allowed inside) to `out`;
/// returns whether anything was written (nothing when no letter is left).
pub fn push_bare_tag(out: &mut String, raw: &str) -> bool {
    push_part(out, raw, is_tag_value_char, true, MAX_TAG_LEN) > 0
}

/// Appends a raw `key:value` or bare tag (as found in `DD_TAGS`) to `out`,
/// splitting at the first `:`; cleaned like every other tag. Returns
/// whether anything was written (a tag with no letter is dropped).
///
/// ```
/// use pipeline_telemetry_dogstatsd::sanitize::push_raw_tag;
/// let mut s = String::new();
/// push_raw_tag(&mut s, "#team:data|eng");
/// assert_eq!(s, "team:data_eng");
/// s.clear();
/// assert!(!push_raw_tag(&mut s, "123"));
/// ```
pub fn push_raw_tag(out: &mut String, raw: &str) -> bool {
    match pipeline_telemetry_catalogue::env::split_tag(raw) {
        (k, Some(v)) => push_tag(out, k, v),
        (tag, None) => push_bare_tag(out, tag),
    }
}

/// Joins sanitised `key:value` tags with `,` into `out`, skipping those
/// that come out empty (both parts empty, or no letter at all).
pub fn push_tags<'a, I>(out: &mut String, tags: I)
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    for (k, v) in tags {
        let before = out.len();
        if !out.is_empty() {
            out.push(',');
        }
        if !push_tag(out, k, v) {
            out.truncate(before);
        }
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
        assert_eq!(s, "a_b:unnamed");
    }

    #[test]
    fn long_tags_are_cut_at_a_char_boundary() {
        let mut s = String::new();
        push_tag(&mut s, "k", &"é".repeat(500));
        assert_eq!(s.chars().count(), MAX_TAG_LEN);
        let mut s = String::new();
        push_tag(&mut s, &"k".repeat(500), "v");
        assert_eq!(s.chars().count(), MAX_TAG_LEN);
        assert!(s.ends_with(":v"));
    }

    #[test]
    fn raw_tags_split_at_first_colon() {
        let mut s = String::new();
        push_raw_tag(&mut s, "team:data:eng");
        assert_eq!(s, "team:data:eng");
        for (raw, want) in [
            ("bare", "bare"),
            ("bare:", "bare"),
            ("9lives:x", "lives:x"),
            (":x", "x"),
            ("-", ""),
        ] {
            let mut s = String::new();
            push_raw_tag(&mut s, raw);
            assert_eq!(s, want, "{raw}");
        }
    }
}
