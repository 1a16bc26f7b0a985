//! Where metrics go when no address is configured, and the count of log
//! lines dropped: the parts of `init()` that choose a default and wire the
//! client telemetry.

use pipeline_telemetry_catalogue::env::{DD_AGENT_HOST, DD_DOGSTATSD_PORT, DD_DOGSTATSD_URL};
use pipeline_telemetry_dogstatsd::Target;
#[cfg(feature = "traces")]
use pipeline_telemetry_otel::OtelBuilder;

/// The client telemetry's count of log lines dropped because the log output
/// (stdout) did not keep up (`c`, no tag of its own): see
/// `OtelBuilder::with_lossless_logs`. Sent by [`init`](crate::init) only when lines are
/// dropped.
pub const LOGS_DROPPED_METRIC: &str = "pipeline_telemetry.client.logs.dropped";

/// Where metrics go when no address is configured (neither
/// [`DD_DOGSTATSD_URL`] nor [`DD_AGENT_HOST`], nor a target set in code).
///
/// Either way the Agent's default socket
/// ([`DEFAULT_SOCKET`](pipeline_telemetry_dogstatsd::DEFAULT_SOCKET),
/// `/var/run/datadog/dsd.socket`) comes first when it exists, as
/// Datadog's Go tracer (dd-trace-go) does for its metrics (the DogStatsD
/// client datadog-go itself has no default). The choice is said once on standard error (unless
/// [`quiet`](crate::TelemetryBuilder::quiet)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fallback {
    /// The default: an Agent listening on `127.0.0.1` at
    /// [`DD_DOGSTATSD_PORT`] (default 8125) when one is found there (see
    /// [`Target::discover`]), else print the DogStatsD lines to standard
    /// error (useful on a laptop, harmless in a container without an
    /// Agent; standard output stays clean for the JSON logs).
    Console,
    /// Send to the Agent's default address, `udp://127.0.0.1:8125`, without
    /// looking for it there.
    DefaultAgent,
}

/// The target when no address is configured, said once on stderr.
pub(super) fn default_target(fallback: Fallback, quiet: bool) -> Target {
    let (target, line) = match fallback {
        Fallback::DefaultAgent => {
            let t = Target::default_agent();
            let what = match &t {
                Target::UnixDatagram(p) => {
                    format!("the Datadog Agent's socket unix://{} (it exists)", p.display())
                }
                _ => "the Datadog Agent's default address udp://127.0.0.1:8125 (Fallback::DefaultAgent)"
                    .to_owned(),
            };
            (t, format!("sending metrics to {what}"))
        }
        Fallback::Console => {
            let found = Target::discover();
            match found.target() {
                Some(t) => (t, format!("sending metrics to {}", found.describe())),
                None => (
                    Target::Console,
                    format!("{}; printing metrics to stderr", found.describe()),
                ),
            }
        }
    };
    if !quiet {
        eprintln!(
            "pipeline-telemetry: {line}, as no address is configured. \
             Set {DD_AGENT_HOST} (and {DD_DOGSTATSD_PORT}) or {DD_DOGSTATSD_URL} \
             (udp://host:8125, unix:///path) to choose where metrics go."
        );
    }
    target
}

/// Counts the log lines the queued log writer drops as
/// [`LOGS_DROPPED_METRIC`] (an atomic add on the logging thread).
#[cfg(feature = "traces")]
pub(super) fn with_drop_counter(otel: OtelBuilder) -> OtelBuilder {
    let dropped = pipeline_telemetry_dogstatsd::CounterHandle::register(LOGS_DROPPED_METRIC, &[]);
    otel.with_log_drop_hook(move |n| dropped.increment(n))
}
