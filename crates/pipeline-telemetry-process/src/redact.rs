//! Secrets in command lines: what reaches a span of the arguments a
//! process was started with.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::redact_values::redact_values;

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Words that mark an argument, a key or the flag before a value as a
/// secret.
const SECRET_WORDS: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "credential",
    "private_key",
    "access_key",
];

/// Short flags whose value is a secret: `-p` (mysql, mariadb, sshpass,
/// 7-Zip), `-P` (zip, unzip), `-k` (openssl's passphrase). Their value is
/// redacted attached (`-pSECRET`) or as the next argument (`-p SECRET`).
/// Tools that give these letters another meaning (psql's `-p` port,
/// curl's `-k`) lose a harmless value on the span.
pub const SECRET_SHORT_FLAGS: [&str; 3] = ["-p", "-P", "-k"];

/// Flags whose value is `user:password` (curl, wget): the password part is
/// redacted.
const USER_FLAGS: [&str; 3] = ["-u", "--user", "--proxy-user"];

type Rule = dyn Fn(Option<&str>, &str) -> Option<String> + Send + Sync;

/// The rule that redacts a command's arguments before they are put on its
/// span.
///
/// Arguments reach a span only when asked for
/// ([`ProcessStage::with_command_args`](crate::ProcessStage::with_command_args)).
/// The default rule then replaces with [`REDACTED`]:
/// - the value of `--flag=value` / `key=value` when the flag or key names a
///   secret (`password`, `passwd`, `pwd`, `secret`, `token`, `api_key`,
///   `apikey`, `credential`, `private_key`, `access_key`, anywhere in the
///   name, any case, `-` and `_` alike);
/// - the argument after such a flag (`--password hunter2`);
/// - the value of a short flag of [`SECRET_SHORT_FLAGS`] (`-p`, `-P`,
///   `-k`), attached (`-pSECRET`) or next (`-p SECRET`);
/// - the password of `user:password` after `-u`, `--user`, `--proxy-user`;
/// - values of secret keys inside an argument: JSON (`--vars
///   '{"db_password": "x"}'`, at any depth, a secret key's whole value),
///   YAML (`--vars "db_password: x"`, `{db_password: x}`) and `key=value`
///   text (`sh -c "PASSWORD=x ./run"`, `?token=abc&page=2`);
/// - the password of a URL (`postgres://user:pass@host` keeps the user).
///
/// No rule recognises a secret that nothing names (`tool hunter2`): keep
/// such arguments off the span (the default) or add a rule.
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
/// let args = ["run", "--vars", r#"{"db_password": "x"}"#, "-phunter2", "-p", "s3"];
/// assert_eq!(
///     r.redact_all(args.iter().copied()),
///     ["run", "--vars", r#"{"db_password":"REDACTED"}"#, "-pREDACTED", "-p", "REDACTED"]
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

pub(crate) fn names_secret(word: &str) -> bool {
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
    if let Some((key, value)) = arg.split_once('=') {
        if names_secret(key) {
            return Some(format!("{key}={REDACTED}"));
        }
        // `--vars={"db_password": "x"}`
        if key.starts_with('-') {
            if let Some(v) = redact_values(value) {
                return Some(format!("{key}={v}"));
            }
        }
    }
    if let Some(prev) = prev {
        let flag = prev.starts_with('-') && !prev.contains('=');
        if flag && (names_secret(prev) || SECRET_SHORT_FLAGS.contains(&prev)) {
            return Some(REDACTED.to_owned());
        }
        if USER_FLAGS.contains(&prev) {
            if let Some((user, _)) = arg.split_once(':') {
                return Some(format!("{user}:{REDACTED}"));
            }
        }
    }
    if let Some(flag) = SECRET_SHORT_FLAGS
        .iter()
        .find(|f| arg.len() > f.len() && arg.starts_with(**f) && arg[f.len()..] != *REDACTED)
    {
        return Some(format!("{flag}{REDACTED}"));
    }
    let text = redact_values(arg);
    let url = redact_url_password(text.as_deref().unwrap_or(arg));
    url.or(text)
}

/// `scheme://user:password@host...` → `scheme://user:REDACTED@host...`,
/// wherever it appears in the argument.
pub(crate) fn redact_url_password(arg: &str) -> Option<String> {
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
    fn short_flags_user_and_values_inside_arguments() {
        let r = Redaction::default();
        let got = r.redact_all([
            "-pHUNTER2",
            "-p",
            "s1",
            "-P",
            "s2",
            "-k",
            "s3",
            "-u",
            "me:s4",
            "--vars",
            "db_password: s5",
            r#"--vars={"nested": {"token": "s6"}}"#,
            "-v",
            "keep",
        ]);
        assert_eq!(
            got,
            [
                "-pREDACTED",
                "-p",
                "REDACTED",
                "-P",
                "REDACTED",
                "-k",
                "REDACTED",
                "-u",
                "me:REDACTED",
                "--vars",
                "db_password: REDACTED",
                r#"--vars={"nested":{"token":"REDACTED"}}"#,
                "-v",
                "keep",
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
