//! Every environment variable pipeline-telemetry reads, named once.
//!
//! The crates that read them (the DogStatsD exporter, the OTLP exporter,
//! the facade's `init()` and run continuation, the subprocess layer) use
//! these constants, never the string literals, and their builders' docs
//! link here. Each constant says what the variable sets and its default
//! when it is unset or empty.
//!
//! `DD_TAGS` is parsed by [`dd_tags`] only, and one of its entries split by
//! [`split_tag`] only.

/// The Datadog Agent's host: DogStatsD goes to `udp://<host>:8125`
/// ([`DD_DOGSTATSD_PORT`]), spans to the Agent's trace intake at
/// `http://<host>:8126` ([`DD_TRACE_AGENT_PORT`]) when
/// [`OTEL_EXPORTER_OTLP_ENDPOINT`] is unset. It may also hold a DogStatsD
/// URL (`unix:///...`). Default: no Agent (metrics and spans go to the
/// console, unless the Agent's sockets exist).
pub const DD_AGENT_HOST: &str = "DD_AGENT_HOST";
/// The DogStatsD port used with [`DD_AGENT_HOST`]. Default `8125`.
pub const DD_DOGSTATSD_PORT: &str = "DD_DOGSTATSD_PORT";
/// The DogStatsD address as a URL (`udp://host:port`, `unix:///path`,
/// `unixgram:///path`, `unixstream:///path`); wins over [`DD_AGENT_HOST`].
/// Default: unset.
pub const DD_DOGSTATSD_URL: &str = "DD_DOGSTATSD_URL";
/// The Agent's trace intake as a URL (`http://host:8126` or
/// `unix:///path/apm.socket`), as ddtrace reads it; wins over
/// [`DD_AGENT_HOST`] and [`DD_TRACE_AGENT_PORT`] for spans. Default: unset.
pub const DD_TRACE_AGENT_URL: &str = "DD_TRACE_AGENT_URL";
/// The trace intake's port with [`DD_AGENT_HOST`] (or `localhost`).
/// Default `8126`.
pub const DD_TRACE_AGENT_PORT: &str = "DD_TRACE_AGENT_PORT";
/// The Agent's trace intake socket, used for spans when it exists and no
/// address is configured (as ddtrace does).
pub const DEFAULT_APM_SOCKET: &str = "/var/run/datadog/apm.socket";
/// Unified service tag `service` (metrics), `service.name` (spans),
/// `dd.service` (logs). Default: unset (the OTLP exporter then uses
/// [`OTEL_SERVICE_NAME`], else `unknown_service:<executable name>`).
pub const DD_SERVICE: &str = "DD_SERVICE";
/// Unified service tag `env`. Default: unset.
pub const DD_ENV: &str = "DD_ENV";
/// Unified service tag `version`. Default: unset.
pub const DD_VERSION: &str = "DD_VERSION";
/// Global tags, `key:value` or bare, separated by commas or spaces (parsed
/// by [`dd_tags`]): on every metric, and as resource attributes of spans
/// (those with a value). Default: none.
pub const DD_TAGS: &str = "DD_TAGS";
/// The entity id sent as the `dd.internal.entity_id` metric tag (set by the
/// Datadog Admission Controller). Default: unset.
pub const DD_ENTITY_ID: &str = "DD_ENTITY_ID";
/// The external environment sent as `|e:` on metric lines (origin
/// detection). Default: unset.
pub const DD_EXTERNAL_ENV: &str = "DD_EXTERNAL_ENV";
/// The tag cardinality sent as `|card:` on metric lines (`none`, `low`,
/// `orchestrator`, `high`). Default: unset (the Agent decides).
pub const DD_CARDINALITY: &str = "DD_CARDINALITY";
/// The older name of [`DD_CARDINALITY`], read when that one is unset.
pub const DATADOG_CARDINALITY: &str = "DATADOG_CARDINALITY";
/// `false`, `0` or `no` turns origin detection (the container id sent as
/// `|c:`) off. Default: on.
pub const DD_ORIGIN_DETECTION_ENABLED: &str = "DD_ORIGIN_DETECTION_ENABLED";

/// The service name of spans when [`DD_SERVICE`] is unset. Default: unset.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Extra resource attributes of spans, `key=value,...` with
/// percent-encoded values. Default: none.
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// The OTLP receiver's base URL (`http://host:4317` for gRPC,
/// `http://host:4318` for HTTP/protobuf); setting it turns OTLP export of
/// spans on; when set, spans go over OTLP rather than to the trace intake.
/// Default: unset.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The OTLP transport: `grpc` or `http/protobuf`. Default: implied by the
/// endpoint's port (4317 is gRPC, any other HTTP/protobuf), else `grpc`.
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Where spans go when [`PIPELINE_TELEMETRY_TRACES`] is unset: `otlp`,
/// `console` or `none`. Default: `otlp` with an endpoint, else `console`.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `otlp` exports log events as OTLP log records when
/// [`PIPELINE_TELEMETRY_OTLP_LOGS`] is unset. Default: off.
pub const OTEL_LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
/// Bound of each OTLP export queue. Default 2048; at most 65536 (a larger
/// value is capped, and reported once).
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Most spans or records in one OTLP export request. Default 512; at most
/// the queue size.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";
/// Longest wait of a finished span before export, in milliseconds.
/// Default 2000.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Limit of one OTLP export request, in milliseconds. Default 10000.
pub const OTEL_BSP_EXPORT_TIMEOUT: &str = "OTEL_BSP_EXPORT_TIMEOUT";

/// Where spans go: `datadog` (the Agent's native trace intake), `otlp`,
/// `console` or `off` (wins over [`OTEL_TRACES_EXPORTER`]). Default: `otlp`
/// with an OTLP endpoint, else `datadog` with an Agent address
/// ([`DD_TRACE_AGENT_URL`], [`DD_AGENT_HOST`], [`DD_TRACE_AGENT_PORT`]) or
/// the Agent's socket ([`DEFAULT_APM_SOCKET`]), else `console`.
pub const PIPELINE_TELEMETRY_TRACES: &str = "PIPELINE_TELEMETRY_TRACES";
/// How log lines are written: `json` or `human`. Default `human`.
pub const PIPELINE_TELEMETRY_LOG_FORMAT: &str = "PIPELINE_TELEMETRY_LOG_FORMAT";
/// `true` exports log events as OTLP log records too (wins over
/// [`OTEL_LOGS_EXPORTER`]). Default `false`.
pub const PIPELINE_TELEMETRY_OTLP_LOGS: &str = "PIPELINE_TELEMETRY_OTLP_LOGS";
/// `true` makes a logging thread wait when the log output (stdout) does not
/// keep up, so no line is dropped; the default, `false`, drops the line and
/// counts it (`pipeline_telemetry.client.logs.dropped`), so that a stalled
/// output never slows the pipeline.
pub const PIPELINE_TELEMETRY_LOG_LOSSLESS: &str = "PIPELINE_TELEMETRY_LOG_LOSSLESS";
/// Which spans are traced, in [`RUST_LOG`] syntax. Default `info`.
pub const PIPELINE_TELEMETRY_TRACE_FILTER: &str = "PIPELINE_TELEMETRY_TRACE_FILTER";
/// ddtrace's trace sampling rules: a JSON list of objects with
/// `sample_rate` and optionally `service`, `name`, `resource` (glob
/// patterns), `tags`, `provenance`, `discard`. Default: none.
pub const DD_TRACE_SAMPLING_RULES: &str = "DD_TRACE_SAMPLING_RULES";
/// The sample rate (0 to 1) of a rule matching every trace, tried after
/// [`DD_TRACE_SAMPLING_RULES`]. Default: unset (traces are kept unless the
/// Agent's rates say otherwise).
pub const DD_TRACE_SAMPLE_RATE: &str = "DD_TRACE_SAMPLE_RATE";
/// Most traces a second that sampling rules keep; negative: no limit.
/// Default 100.
pub const DD_TRACE_RATE_LIMIT: &str = "DD_TRACE_RATE_LIMIT";
/// Which log events are written (tracing-subscriber's `EnvFilter` syntax).
/// Default `info`.
pub const RUST_LOG: &str = "RUST_LOG";
/// Set (to anything) turns colours off in human-readable log lines.
/// Default: colours on a terminal.
pub const NO_COLOR: &str = "NO_COLOR";

/// The run's `pipeline_id`, set by a launcher (and by the subprocess layer
/// for its children). Default: from [`BAGGAGE`], else a fresh id.
pub const PIPELINE_ID: &str = "PIPELINE_ID";
/// The W3C `traceparent` of the launching process (OpenTelemetry's
/// environment carrier). Default: unset (a new trace).
pub const TRACEPARENT: &str = "TRACEPARENT";
/// The W3C `tracestate` of the launching process. Default: unset.
pub const TRACESTATE: &str = "TRACESTATE";
/// The W3C `baggage` of the launching process. Default: unset.
pub const BAGGAGE: &str = "BAGGAGE";

/// Splits what a user wrote as the Agent's host in [`DD_AGENT_HOST`] into
/// the host (an IPv6 address without its brackets) and the port written
/// with it, if any. Accepted: a name or IPv4 address (`agent`,
/// `127.0.0.1`), an IPv6 address bare or in brackets (`::1`, `[::1]`), and
/// any of these with a port (`agent:8125`, `127.0.0.1:8125`,
/// `[::1]:8125`), as datadog-go accepts them. The DogStatsD exporter and
/// the OTLP exporter both read the variable through this function, so a
/// port written for DogStatsD never ends up inside an OTLP host.
///
/// ```
/// use pipeline_telemetry_catalogue::env::split_agent_host;
/// assert_eq!(split_agent_host("agent:8125"), Ok(("agent", Some(8125))));
/// assert_eq!(split_agent_host("[::1]:8125"), Ok(("::1", Some(8125))));
/// assert_eq!(split_agent_host("::1"), Ok(("::1", None)));
/// assert_eq!(split_agent_host(" 127.0.0.1 "), Ok(("127.0.0.1", None)));
/// ```
///
/// # Errors
///
/// The reason, saying what to write instead, when the value is empty, a
/// port is not a number, brackets hold no IPv6 address or are not closed,
/// or several `:` do not make an IPv6 address.
pub fn split_agent_host(value: &str) -> Result<(&str, Option<u16>), String> {
    let value = value.trim();
    let port = |p: &str| -> Result<u16, String> {
        p.parse::<u16>().map_err(|_| {
            format!(
                "{p:?} after the last ':' is not a port number; write host, host:port or [IPv6]:port \
                 (an IPv6 address may also stand alone), or put the port in {DD_DOGSTATSD_PORT}"
            )
        })
    };
    if let Some(inner) = value.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or("an IPv6 address in brackets needs its closing ']' (e.g. [::1]:8125)")?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{addr:?} in brackets is not an IPv6 address"));
        }
        return match after {
            "" => Ok((addr, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok((addr, Some(port(p)?))),
                None => Err(format!(
                    "unexpected {after:?} after ']'; write [IPv6] or [IPv6]:port"
                )),
            },
        };
    }
    if value.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((value, None));
    }
    match value.split_once(':') {
        None if value.is_empty() => Err("empty host".to_owned()),
        None => Ok((value, None)),
        Some((host, p)) if !host.is_empty() && !p.contains(':') => Ok((host, Some(port(p)?))),
        Some(_) => Err(format!(
            "not a host, host:port or IPv6 address; write an IPv6 address as ::1 or [::1]:8125, \
             and the port alone in {DD_DOGSTATSD_PORT}"
        )),
    }
}

/// `host:port`, with an IPv6 address in brackets (`[::1]:8125`): the
/// address form sockets and URLs take.
///
/// ```
/// use pipeline_telemetry_catalogue::env::join_host_port;
/// assert_eq!(join_host_port("::1", 4317), "[::1]:4317");
/// assert_eq!(join_host_port("agent", 4317), "agent:4317");
/// ```
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Splits one tag written as in [`DD_TAGS`] at its first `:`: `key:value`
/// gives `(key, Some(value))`; a bare tag, or one with an empty value
/// (`key:`), gives `(tag, None)`. Nothing is trimmed or cleaned.
///
/// ```
/// use pipeline_telemetry_catalogue::env::split_tag;
/// assert_eq!(split_tag("team:data:eng"), ("team", Some("data:eng")));
/// assert_eq!(split_tag("beta"), ("beta", None));
/// assert_eq!(split_tag("beta:"), ("beta", None));
/// ```
pub fn split_tag(tag: &str) -> (&str, Option<&str>) {
    match tag.split_once(':') {
        Some((k, v)) if !v.is_empty() => (k, Some(v)),
        Some((k, _)) => (k, None),
        None => (tag, None),
    }
}

/// The tags of a [`DD_TAGS`] value: entries separated by commas or spaces,
/// each trimmed, empty ones skipped, then split by [`split_tag`]. Tags are
/// not cleaned here (each consumer cleans them for its wire format).
///
/// ```
/// use pipeline_telemetry_catalogue::env::dd_tags;
/// let tags: Vec<_> = dd_tags("team:data, region:eu beta").collect();
/// assert_eq!(tags, [("team", Some("data")), ("region", Some("eu")), ("beta", None)]);
/// ```
pub fn dd_tags(raw: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    raw.split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(split_tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Vec<(&str, Option<&str>)> {
        dd_tags(raw).collect()
    }

    #[test]
    fn agent_host_forms_split_host_and_port() {
        assert_eq!(split_agent_host("agent"), Ok(("agent", None)));
        assert_eq!(split_agent_host("agent:9125"), Ok(("agent", Some(9125))));
        assert_eq!(
            split_agent_host("127.0.0.1:8125"),
            Ok(("127.0.0.1", Some(8125)))
        );
        assert_eq!(split_agent_host("[::1]"), Ok(("::1", None)));
        assert_eq!(split_agent_host("[::1]:8125"), Ok(("::1", Some(8125))));
        assert_eq!(split_agent_host("fe80::1"), Ok(("fe80::1", None)));
        for bad in [
            "",
            ":8125",
            "agent:http",
            "[::1",
            "[agent]:1",
            "[::1]x",
            "fe80::1::2",
        ] {
            assert!(split_agent_host(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn commas_and_spaces_both_separate() {
        assert_eq!(
            parsed("a:1,b:2 c:3, d:4"),
            [
                ("a", Some("1")),
                ("b", Some("2")),
                ("c", Some("3")),
                ("d", Some("4"))
            ]
        );
    }

    #[test]
    fn empty_entries_are_skipped() {
        assert!(parsed("").is_empty());
        assert!(parsed(" , ,,  ").is_empty());
        assert_eq!(parsed(",a:1,,\tb ,"), [("a", Some("1")), ("b", None)]);
    }

    #[test]
    fn key_value_and_bare_tags() {
        assert_eq!(
            parsed("team:data beta key: url:http://x:1"),
            [
                ("team", Some("data")),
                ("beta", None),
                ("key", None),
                ("url", Some("http://x:1")),
            ]
        );
        // An empty key is kept: the consumer decides (DogStatsD cleans the
        // value into a bare tag, a resource attribute needs a key).
        assert_eq!(parsed(":v"), [("", Some("v"))]);
    }
}
