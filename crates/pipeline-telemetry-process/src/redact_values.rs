//! Secrets inside an argument's text: values of secret keys in JSON
//! (`{"db_password": "x"}`) and in YAML or `key=value` text
//! (`db_password: x`, `{db_password: x}`, `PASSWORD=x ./run`,
//! `?token=abc&page=2`).

use serde_json::Value;

use crate::redact::{names_secret, redact_url_password, REDACTED};

/// `text` with the value of every secret key replaced, or `None` when it
/// holds none.
pub(crate) fn redact_values(text: &str) -> Option<String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(mut v) = serde_json::from_str::<Value>(text) {
            return redact_json(&mut v).then(|| v.to_string());
        }
    }
    redact_key_values(text)
}

/// Replaces the value (whatever its type) of every key that names a
/// secret, at any depth, and the passwords of URLs in strings.
fn redact_json(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let mut changed = false;
            for (key, value) in map.iter_mut() {
                if names_secret(key) {
                    if value.as_str() != Some(REDACTED) {
                        *value = Value::from(REDACTED);
                        changed = true;
                    }
                } else {
                    changed |= redact_json(value);
                }
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |c, x| redact_json(x) | c),
        Value::String(s) => match redact_url_password(s).or_else(|| redact_key_values(s)) {
            Some(r) => {
                *s = r;
                true
            }
            None => false,
        },
        _ => false,
    }
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.".contains(&b)
}

/// Where a value without quotes ends: YAML (`key: value`) at the end of a
/// flow item or line; `key=value` also at white space and `&`, `;`.
fn ends_value(b: u8, sep: u8) -> bool {
    match sep {
        b':' => b",}]\r\n".contains(&b),
        _ => b.is_ascii_whitespace() || b",;&}]\"'".contains(&b),
    }
}

/// Key-value text: a key (a word, bare or quoted) that names a secret,
/// `:` or `=`, and its value (quoted, or up to where [`ends_value`] says).
fn redact_key_values(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    let mut i = 0;
    while i < b.len() {
        // A key starts at the start of the text or after a byte that is not
        // part of a key.
        if i > 0 && is_key_byte(b[i - 1]) {
            i += 1;
            continue;
        }
        let quote = (b[i] == b'"' || b[i] == b'\'').then_some(b[i]);
        let start = i + usize::from(quote.is_some());
        let mut end = start;
        while end < b.len() && is_key_byte(b[end]) {
            end += 1;
        }
        let mut j = end;
        if let Some(q) = quote {
            if j >= b.len() || b[j] != q {
                i += 1;
                continue;
            }
            j += 1;
        }
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let is_pair = end > start && j < b.len() && (b[j] == b':' || b[j] == b'=');
        // `scheme://`: a URL, not a key.
        if !is_pair || b[j..].starts_with(b"://") || !names_secret(&text[start..end]) {
            i = end.max(i + 1);
            continue;
        }
        let sep = b[j];
        j += 1;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        let (vs, ve) = if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
            let q = b[j];
            let mut k = j + 1;
            while k < b.len() && b[k] != q {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            (j + 1, k.min(b.len()))
        } else {
            let mut k = j;
            while k < b.len() && !ends_value(b[k], sep) {
                k += 1;
            }
            // YAML: trailing spaces are not part of the value.
            while k > j && b[k - 1] == b' ' {
                k -= 1;
            }
            (j, k)
        };
        if ve > vs && &text[vs..ve] != REDACTED {
            out.push_str(&text[last..vs]);
            out.push_str(REDACTED);
            last = ve;
            changed = true;
        }
        i = ve.max(i + 1);
    }
    changed.then(|| {
        out.push_str(&text[last..]);
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_values() {
        let cases = [
            (
                r#"{"db_password": "x", "days": 3}"#,
                r#"{"days":3,"db_password":"REDACTED"}"#,
            ),
            (
                r#"{"credentials": {"user": "a", "pass": "b"}, "n": [1]}"#,
                r#"{"credentials":"REDACTED","n":[1]}"#,
            ),
            (r#"[{"api_key": 1}]"#, r#"[{"api_key":"REDACTED"}]"#),
            ("db_password: x", "db_password: REDACTED"),
            (
                "{db_password: my pass, days: 3}",
                "{db_password: REDACTED, days: 3}",
            ),
            (
                "a: 1\nsecret: 'x y'\nb: 2",
                "a: 1\nsecret: 'REDACTED'\nb: 2",
            ),
            (
                r#"{"token": "a\"b", "x": 1"#,
                r#"{"token": "REDACTED", "x": 1"#,
            ),
            ("PASSWORD=x ./run.sh", "PASSWORD=REDACTED ./run.sh"),
            (
                "https://h/p?token=abc&page=2",
                "https://h/p?token=REDACTED&page=2",
            ),
        ];
        for (arg, want) in cases {
            assert_eq!(redact_values(arg).as_deref(), Some(want), "{arg}");
        }
        for clean in [
            r#"{"days": 3}"#,
            "days: 3",
            "postgres://host/db",
            "tokens",
            "password",
            "é: ü",
        ] {
            assert_eq!(redact_values(clean), None, "{clean}");
        }
    }
}
