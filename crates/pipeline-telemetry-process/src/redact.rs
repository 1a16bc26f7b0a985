//! Secrets in command lines: what reaches a span of the arguments a
//! process was started with.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Words that mark an argument (or the flag before it) as a secret.
const SECRET_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "credential",
];

type Rule = dyn Fn(Option<&str>, &str) -> Option<String> + Send + Sync;

/// The rule that redacts a command's arguments before they are put on its
/// span.
///
/// The default rule replaces with [`REDACTED`]:
/// - the value of `--flag=value` / `key=value` when the flag or key names a
///   secret (`password`, `passwd`, `secret`, `token`, `api_key`, `apikey`,
///   `credential`, any case, `-` and `_` alike);
/// - the argument after such a flag (`--password hunter2`);
/// - the password of a URL (`postgres://user:pass@host` keeps the user).
///
/// A custom rule sees each argument with the one before it and returns the
/// replacement, or `None` to keep the argument; it runs after the default
/// rule unless [`Redaction::custom_only`] is used.
///
/// ```
/// use pipeline_telemetry_process::Redaction;
///
/// let r = Redaction::default();
/// let args = ["--password", "hunter2", "--db=postgres://me:pw@db/x", "--threads=4"];
/// assert_eq!(
///     r.redact_all(args.iter().copied()),
///     ["--password", "REDACTED", "--db=postgres://me:REDACTED@db/x", "--threads=4"]
/// );
///
/// let r = Redaction::default().with_rule(|_prev, arg| {
///     arg.starts_with("sk-").then(|| "REDACTED".to_owned())
/// });
/// assert_eq!(r.redact_all(["sk-123"]), ["REDACTED"]);
/// ```
#[derive(Clone, Default)]
pub struct Redaction {
    custom: Option<Arc<Rule>>,
    defaults: DefaultRule,
}

#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum DefaultRule {
    #[default]
    On,
    Off,
}

impl fmt::Debug for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redaction")
            .field("custom", &self.custom.is_some())
            .field("defaults", &(self.defaults == DefaultRule::On))
            .finish()
    }
}

impl Redaction {
    /// Only `rule` decides; the default rule is off.
    pub fn custom_only(
        rule: impl Fn(Option<&str>, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Redaction {
            custom: Some(Arc::new(rule)),
            defaults: DefaultRule::Off,
        }
    }

    /// Adds `rule` (previous argument, argument → replacement), applied
    /// after the default rule.
    pub fn with_rule(
        mut self,
        rule: impl Fn(Option<&str>, &str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.custom = Some(Arc::new(rule));
        self
    }

    /// Redacts one argument, given the one before it.
    pub fn redact<'a>(&self, prev: Option<&str>, arg: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(arg);
        if self.defaults == DefaultRule::On {
            if let Some(r) = default_rule(prev, arg) {
                out = Cow::Owned(r);
            }
        }
        if let Some(rule) = &self.custom {
            if let Some(r) = rule(prev, &out) {
                out = Cow::Owned(r);
            }
        }
        out
    }

    /// Redacts every argument of a command line.
    pub fn redact_all<'a>(&self, args: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut prev: Option<&str> = None;
        let mut out = Vec::new();
        for arg in args {
            out.push(self.redact(prev, arg).into_owned());
            prev = Some(arg);
        }
        out
    }
}

fn names_secret(word: &str) -> bool {
    let w: String = word
        .trim_start_matches('-')
        .chars()
        .map(|c| {
            if c == '-' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    SECRET_WORDS.iter().any(|s| w.contains(s))
}

fn default_rule(prev: Option<&str>, arg: &str) -> Option<String> {
    if let Some((key, _)) = arg.split_once('=') {
        if names_secret(key) {
            return Some(format!("{key}={REDACTED}"));
        }
    }
    if prev.is_some_and(|p| p.starts_with('-') && !p.contains('=') && names_secret(p)) {
        return Some(REDACTED.to_owned());
    }
    redact_url_password(arg)
}

/// `scheme://user:password@host...` → `scheme://user:REDACTED@host...`,
/// wherever it appears in the argument.
fn redact_url_password(arg: &str) -> Option<String> {
    let scheme_end = arg.find("://")? + 3;
    let rest = &arg[scheme_end..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let colon = authority[..at].find(':')?;
    Some(format!(
        "{}{}:{REDACTED}{}",
        &arg[..scheme_end],
        &authority[..colon],
        &rest[at..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule_cases() {
        let r = Redaction::default();
        let got = r.redact_all([
            "dbt",
            "run",
            "--vars",
            "{x: 1}",
            "API_TOKEN=abc",
            "--client-secret",
            "s3cr3t",
            "http://u@host/p",
            "x://a:b@c",
        ]);
        assert_eq!(
            got,
            [
                "dbt",
                "run",
                "--vars",
                "{x: 1}",
                "API_TOKEN=REDACTED",
                "--client-secret",
                "REDACTED",
                "http://u@host/p",
                "x://a:REDACTED@c",
            ]
        );
    }

    #[test]
    fn custom_only_skips_defaults() {
        let r = Redaction::custom_only(|_, a| (a == "x").then(|| "y".to_owned()));
        assert_eq!(
            r.redact_all(["--password", "p", "x"]),
            ["--password", "p", "y"]
        );
    }
}
