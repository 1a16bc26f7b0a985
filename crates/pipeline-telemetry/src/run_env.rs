//! Runs launched by an orchestrator (Prefect, Airflow, cron, a parent
//! pipeline): continuing its trace from the process environment.

use std::collections::BTreeMap;
use std::ffi::OsString;

use pipeline_telemetry_catalogue::env::{BAGGAGE, PIPELINE_ID, TRACEPARENT, TRACESTATE};

use crate::otel::{
    sanitize_pipeline_id, Carrier, DATADOG_ENV_VARS, MAX_HEADER_VALUE_LEN, PIPELINE_ID_KEY,
};
use crate::PipelineRun;

/// The environment variables of OpenTelemetry's environment carrier, with
/// the W3C key each one stands for (the Datadog ones follow, see
/// [`DATADOG_ENV_VARS`]).
const CONTEXT_VARS: [(&str, &str); 3] = [
    (TRACEPARENT, "traceparent"),
    (TRACESTATE, "tracestate"),
    (BAGGAGE, "baggage"),
];

impl PipelineRun {
    /// Starts a run of `pipeline` that continues the trace of the process
    /// that launched this one: `TRACEPARENT`, `TRACESTATE` and `BAGGAGE`
    /// (OpenTelemetry's environment-variable carrier), `X_DATADOG_TRACE_ID`,
    /// `X_DATADOG_PARENT_ID`, ... (the `datadog` style, see
    /// [`otel::DATADOG_ENV_VARS`](crate::otel::DATADOG_ENV_VARS)), and the run's
    /// `pipeline_id` from the `PIPELINE_ID` variable or, without it, from
    /// the baggage.
    ///
    /// Missing, malformed, over-long or hostile variables never panic: the
    /// run then starts a new trace, under a fresh `pipeline_id` when none
    /// is valid.
    ///
    /// ```
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// // Launched by an orchestrator with TRACEPARENT and PIPELINE_ID set.
    /// let run = PipelineRun::continue_from_env("nightly_export");
    /// run.finish();
    /// ```
    pub fn continue_from_env(pipeline: &str) -> Self {
        Self::continue_from_env_lookup(pipeline, |name| std::env::var_os(name))
    }

    /// [`continue_from_env`](Self::continue_from_env) with the variables
    /// given by `lookup` (another environment than this process's, or a
    /// test).
    ///
    /// ```
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// let run = PipelineRun::continue_from_env_lookup("nightly", |name| match name {
    ///     "PIPELINE_ID" => Some("run-42".into()),
    ///     "TRACEPARENT" => Some("not a traceparent".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(run.pipeline_id(), "run-42");
    /// run.finish();
    /// ```
    pub fn continue_from_env_lookup(
        pipeline: &str,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Self {
        let carrier = env_carrier(&lookup);
        Self::continue_from(pipeline, &carrier)
    }
}

/// The context variables as a header table, the `PIPELINE_ID` variable
/// (when valid) written into its baggage in place of any `pipeline_id`
/// there.
fn env_carrier(lookup: &impl Fn(&str) -> Option<OsString>) -> BTreeMap<String, String> {
    let mut carrier = BTreeMap::new();
    for (var, key) in CONTEXT_VARS.into_iter().chain(DATADOG_ENV_VARS) {
        let value = lookup(var).and_then(|v| v.into_string().ok());
        if let Some(value) = value.filter(|v| v.len() <= MAX_HEADER_VALUE_LEN) {
            carrier.set(key, value);
        }
    }
    let id = lookup(PIPELINE_ID)
        .and_then(|v| v.into_string().ok())
        .and_then(|v| sanitize_pipeline_id(&v));
    if let Some(id) = id {
        let mut entries: Vec<String> = Carrier::get(&carrier, "baggage")
            .unwrap_or("")
            .split(',')
            .filter(|e| {
                let key = e.split(['=', ';']).next().unwrap_or("").trim();
                !e.trim().is_empty() && key != PIPELINE_ID_KEY
            })
            .map(str::to_owned)
            .collect();
        entries.push(format!("{PIPELINE_ID_KEY}={id}"));
        carrier.set("baggage", entries.join(","));
    }
    carrier
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn pipeline_id_variable_replaces_the_baggage_entry() {
        let c = env_carrier(&lookup(&[
            ("BAGGAGE", "a=1,pipeline_id=old;p=1, b=2"),
            ("PIPELINE_ID", "run-9"),
        ]));
        assert_eq!(
            Carrier::get(&c, "baggage"),
            Some("a=1, b=2,pipeline_id=run-9")
        );
    }

    /// The `datadog` style's variables are read (the old code read only the
    /// W3C ones): the run continues the trace they name.
    #[test]
    fn datadog_variables_name_the_trace() {
        let c = env_carrier(&lookup(&[
            ("X_DATADOG_TRACE_ID", "9532127138774266268"),
            ("X_DATADOG_PARENT_ID", "67667974448284343"),
            ("X_DATADOG_TAGS", "_dd.p.tid=0af7651916cd43dd"),
        ]));
        let remote = crate::otel::extract(&c);
        assert_eq!(
            remote.trace_id().as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
    }

    #[test]
    fn hostile_variables_are_dropped() {
        let long = "x".repeat(MAX_HEADER_VALUE_LEN + 1);
        let c = env_carrier(&lookup(&[
            ("TRACEPARENT", long.as_str()),
            ("PIPELINE_ID", "42\n{\"status\":\"ok\"}"),
        ]));
        assert!(c.is_empty(), "{c:?}");
    }

    #[cfg(unix)]
    #[test]
    fn non_unicode_variables_are_ignored() {
        use std::os::unix::ffi::OsStringExt;
        let c = env_carrier(&|_: &str| Some(OsString::from_vec(vec![0xff, 0xfe])));
        assert!(c.is_empty());
    }
}
