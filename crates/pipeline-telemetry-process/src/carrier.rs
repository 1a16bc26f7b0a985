//! [`EnvCarrier`]: trace context in environment variables, as
//! OpenTelemetry's environment-variable carrier specifies (`TRACEPARENT`,
//! `TRACESTATE`, `BAGGAGE`), and the `datadog` style's headers the same way
//! (`X_DATADOG_TRACE_ID`, ..., see `otel::DATADOG_ENV_VARS`).

use std::collections::BTreeMap;
use std::ffi::OsStr;

use pipeline_telemetry::catalogue::env::{BAGGAGE, PIPELINE_ID, TRACEPARENT, TRACESTATE};
use pipeline_telemetry::otel::{Carrier, DATADOG_ENV_VARS, MAX_HEADER_VALUE_LEN};

/// The environment variables that carry a run's context to a child process
/// (and that [`EnvCarrier::from_env`] reads back): the W3C ones, then the
/// `datadog` style's.
pub const CONTEXT_VARS: [&str; 8] = [
    TRACEPARENT,
    TRACESTATE,
    BAGGAGE,
    DATADOG_ENV_VARS[0].0,
    DATADOG_ENV_VARS[1].0,
    DATADOG_ENV_VARS[2].0,
    DATADOG_ENV_VARS[3].0,
    DATADOG_ENV_VARS[4].0,
];

/// The variable that names the run (`pipeline_id`) for a child process that
/// does not read W3C baggage.
pub const PIPELINE_ID_VAR: &str = PIPELINE_ID;

/// Trace context as environment variables: the W3C keys (`traceparent`,
/// `tracestate`, `baggage`) map to the upper-case variable names
/// (`TRACEPARENT`, `TRACESTATE`, `BAGGAGE`).
///
/// ```
/// use pipeline_telemetry::otel::Carrier;
/// use pipeline_telemetry_process::EnvCarrier;
///
/// let mut env = EnvCarrier::new();
/// env.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
/// assert!(env.vars().any(|(k, _)| k == "TRACEPARENT"));
/// assert!(Carrier::get(&env, "traceparent").is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvCarrier {
    vars: BTreeMap<String, String>,
}

/// The variable name of a carrier key: upper case, every character that is
/// not an ASCII letter or digit replaced by `_`.
fn var_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl EnvCarrier {
    /// An empty carrier.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context variables of this process's environment. Variables that
    /// are absent, not valid Unicode or longer than
    /// [`MAX_HEADER_VALUE_LEN`] are left out.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var_os(k))
    }

    /// The context variables as `lookup` gives them (for tests and for
    /// environments that are not this process's).
    pub fn from_lookup<V: AsRef<OsStr>>(lookup: impl Fn(&str) -> Option<V>) -> Self {
        let mut vars = BTreeMap::new();
        for name in CONTEXT_VARS {
            let Some(value) = lookup(name) else { continue };
            let Some(value) = value.as_ref().to_str() else {
                continue;
            };
            if value.len() <= MAX_HEADER_VALUE_LEN {
                vars.insert(name.to_owned(), value.to_owned());
            }
        }
        EnvCarrier { vars }
    }

    /// The variables to set in a child's environment.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets the variables in `command`'s environment, and removes the
    /// context variables this carrier does not hold (so that a child never
    /// inherits a context that is not its parent's).
    pub fn apply_to(&self, command: &mut std::process::Command) {
        for name in CONTEXT_VARS {
            match self.vars.get(name) {
                Some(v) => command.env(name, v),
                None => command.env_remove(name),
            };
        }
    }
}

impl Carrier for EnvCarrier {
    fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(&var_name(key)).map(String::as_str)
    }

    fn set(&mut self, key: &str, value: String) {
        // A NUL cannot be passed in an environment variable.
        if !value.contains('\0') {
            self.vars.insert(var_name(key), value);
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.vars.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_upper_case_variables() {
        let mut c = EnvCarrier::new();
        c.set("traceparent", "tp".into());
        c.set("baggage", "pipeline_id=1".into());
        c.set("x-bad\0", "a\0b".into());
        assert_eq!(Carrier::get(&c, "TraceParent"), Some("tp"));
        assert_eq!(c.keys(), vec!["BAGGAGE", "TRACEPARENT"]);
    }

    /// The `datadog` style travels too (the old carrier read and passed on
    /// only the W3C variables).
    #[test]
    fn datadog_variables_are_read_and_passed_on() {
        let c = EnvCarrier::from_lookup(|k| match k {
            "X_DATADOG_TRACE_ID" => Some("9532127138774266268".to_owned()),
            "X_DATADOG_PARENT_ID" => Some("67667974448284343".to_owned()),
            "X_DATADOG_TAGS" => Some("_dd.p.tid=0af7651916cd43dd".to_owned()),
            _ => None,
        });
        let remote = pipeline_telemetry::otel::extract(&c);
        assert_eq!(
            remote.trace_id().as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        let mut command = std::process::Command::new("true");
        c.apply_to(&mut command);
        let set: Vec<_> = command
            .get_envs()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            set,
            [
                "X_DATADOG_PARENT_ID",
                "X_DATADOG_TAGS",
                "X_DATADOG_TRACE_ID"
            ]
        );
        let mut fresh = EnvCarrier::new();
        fresh.set("x-datadog-trace-id", "5".into());
        assert_eq!(
            fresh.vars().collect::<Vec<_>>(),
            [("X_DATADOG_TRACE_ID", "5")]
        );
    }

    #[test]
    fn lookup_skips_long_and_missing_values() {
        let long = "x".repeat(MAX_HEADER_VALUE_LEN + 1);
        let c = EnvCarrier::from_lookup(|k| match k {
            "TRACEPARENT" => Some("tp".to_owned()),
            "BAGGAGE" => Some(long.clone()),
            _ => None,
        });
        assert_eq!(c.keys(), vec!["TRACEPARENT"]);
    }
}
