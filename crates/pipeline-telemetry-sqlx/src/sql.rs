//! What the span may say about a query: its operation, its table, and its
//! text with every literal replaced by `?` (bound parameters `$1` stay).

/// Longest `db.query.text` kept, in bytes (Datadog truncates resources at
/// 5000 characters as well).
pub const MAX_QUERY_TEXT_LEN: usize = 5000;

/// `sql` with string, dollar-quoted, numeric, bit/hex/escape-string
/// literals replaced by `?`, whitespace runs collapsed, cut to
/// [`MAX_QUERY_TEXT_LEN`]. Identifiers (also `"quoted"` ones), keywords,
/// operators and `$n` placeholders are kept.
///
/// ```
/// use pipeline_telemetry_sqlx::sql::strip_literals;
/// assert_eq!(
///     strip_literals("SELECT * FROM t WHERE a = 'x''y' AND b > 42.5 AND c = $1"),
///     "SELECT * FROM t WHERE a = ? AND b > ? AND c = $1"
/// );
/// assert_eq!(strip_literals("SELECT $tag$secret$tag$, E'\\x'"), "SELECT ?, ?");
/// ```
pub fn strip_literals(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len().min(MAX_QUERY_TEXT_LEN));
    let mut i = 0;
    let mut last_space = false;
    while i < b.len() && out.len() < MAX_QUERY_TEXT_LEN {
        let c = b[i];
        // Comments carry no structure and may carry values: drop them.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c.is_ascii_whitespace() {
            if !last_space && !out.is_empty() {
                out.push(' ');
            }
            last_space = true;
            i += 1;
            continue;
        }
        last_space = false;
        let prev_ident = out
            .as_bytes()
            .last()
            .is_some_and(|p| p.is_ascii_alphanumeric() || *p == b'_' || *p == b'$');
        // E'..', B'..', X'..', U&'..' prefixes of string literals.
        let prefixed = matches!(c, b'E' | b'e' | b'B' | b'b' | b'X' | b'x' | b'N' | b'n')
            && b.get(i + 1) == Some(&b'\'')
            && !prev_ident;
        if c == b'\'' || prefixed {
            if prefixed {
                i += 1;
            }
            i += 1;
            while i < b.len() {
                if b[i] == b'\\' && (prefixed && (c == b'E' || c == b'e')) {
                    i += 2;
                    continue;
                }
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push('?');
            continue;
        }
        if c == b'$' && !prev_ident {
            // $1 placeholder, or a $tag$ ... $tag$ dollar-quoted literal.
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                out.push('$');
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    out.push(b[i] as char);
                    i += 1;
                }
                continue;
            }
            let tag_end = b[i + 1..]
                .iter()
                .position(|&x| x == b'$')
                .map(|p| i + 1 + p);
            if let Some(end) = tag_end {
                let tag = &sql[i..=end];
                if tag[1..tag.len() - 1]
                    .bytes()
                    .all(|x| x.is_ascii_alphanumeric() || x == b'_')
                {
                    let body = end + 1;
                    let close = sql[body..].find(tag).map(|p| body + p + tag.len());
                    i = close.unwrap_or(b.len());
                    out.push('?');
                    continue;
                }
            }
        }
        if c == b'"' {
            // A quoted identifier: kept.
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += 1;
            }
            i = (i + 1).min(b.len());
            out.push_str(&sql[start..i]);
            continue;
        }
        if c.is_ascii_digit() && !prev_ident {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            out.push('?');
            continue;
        }
        // Any other character, copied whole (UTF-8 safe).
        let ch_len = sql[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&sql[i..i + ch_len]);
        i += ch_len;
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// The first keyword of a (stripped) query, upper-case: `SELECT`,
/// `INSERT`, ... (for `WITH`, the keyword of the main statement is not
/// looked for: `WITH`).
pub fn operation(stripped: &str) -> Option<String> {
    let word = stripped
        .trim_start_matches(['(', ' '])
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()?;
    (!word.is_empty() && word.len() <= 32).then(|| word.to_ascii_uppercase())
}

/// The table a simple statement works on: after `FROM` (SELECT, DELETE),
/// `INTO` (INSERT), `UPDATE`, or `TABLE`/`INTO` of `TRUNCATE`/`LOCK`/
/// `COPY`. `None` when there is none or it is not a plain identifier.
pub fn collection(stripped: &str, operation: &str) -> Option<String> {
    let words: Vec<&str> = stripped
        .split([' ', ',', '(', ')', ';'])
        .filter(|w| !w.is_empty())
        .collect();
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|p| words.get(p + 1))
            .copied()
    };
    let name = match operation {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" | "COPY" => words.get(1).copied(),
        "TRUNCATE" | "LOCK" => words
            .get(1)
            .filter(|w| !w.eq_ignore_ascii_case("TABLE"))
            .or_else(|| words.get(2))
            .copied(),
        _ => None,
    }?;
    let name = name.trim_end_matches(';');
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'"');
    let keyword = ["ONLY", "LATERAL", "SELECT"]
        .iter()
        .any(|k| name.eq_ignore_ascii_case(k));
    (ok && !keyword).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_of_every_kind_go() {
        let cases = [
            (
                "INSERT INTO t (a, b) VALUES ('alice', 31337)",
                "INSERT INTO t (a, b) VALUES (?, ?)",
            ),
            ("select -1.5e3, 0x1F, B'1010', X'ff'", "select -?, ?, ?, ?"),
            ("SELECT 'it''s' -- secret 99\n FROM t", "SELECT ? FROM t"),
            (
                "SELECT /* 'k' 7 */ a1, t2.c3 FROM \"T 9\" WHERE x = $12",
                "SELECT a1, t2.c3 FROM \"T 9\" WHERE x = $12",
            ),
            ("SELECT $$ a 'b' $$ || $q$ c $q$", "SELECT ? || ?"),
            ("SELECT 'unterminated", "SELECT ?"),
            ("SELECT 'héllo', 'ü'", "SELECT ?, ?"),
        ];
        for (sql, want) in cases {
            assert_eq!(strip_literals(sql), want, "{sql}");
        }
    }

    #[test]
    fn operation_and_collection() {
        let s = strip_literals("  insert into pt_items (id) values ($1)");
        assert_eq!(operation(&s).as_deref(), Some("INSERT"));
        assert_eq!(collection(&s, "INSERT").as_deref(), Some("pt_items"));
        let s = strip_literals("SELECT a FROM public.t WHERE b = 1");
        assert_eq!(collection(&s, "SELECT").as_deref(), Some("public.t"));
        assert_eq!(collection("SELECT 1", "SELECT"), None);
        assert_eq!(
            collection("UPDATE t SET a = ?", "UPDATE").as_deref(),
            Some("t")
        );
        assert_eq!(
            collection("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "LOCK").as_deref(),
            Some("t")
        );
        assert_eq!(operation("").as_deref(), None);
    }
}
