//! [`OtelBuilder::from_env`]: the Datadog and OpenTelemetry environment
//! variables, read once.

use std::time::Duration;

use pipeline_telemetry_catalogue::env::{
    self as vars, DD_AGENT_HOST, DD_ENV, DD_SERVICE, DD_TAGS, DD_TRACE_AGENT_PORT,
    DD_TRACE_AGENT_URL, DD_VERSION, OTEL_BSP_EXPORT_TIMEOUT, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
    OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_SCHEDULE_DELAY, OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_LOGS_EXPORTER, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME,
    OTEL_TRACES_EXPORTER, PIPELINE_TELEMETRY_LOG_FORMAT, PIPELINE_TELEMETRY_LOG_LOSSLESS,
    PIPELINE_TELEMETRY_OTLP_LOGS, PIPELINE_TELEMETRY_TRACES, PIPELINE_TELEMETRY_TRACE_FILTER,
    RUST_LOG,
};

use crate::builder::{
    NoteKind, OtelBuilder, DEFAULT_BATCH_DELAY, DEFAULT_EXPORT_TIMEOUT, DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_QUEUE_SIZE, MAX_QUEUE_SIZE,
};
use crate::config::{parse_bool, LogFormat, Protocol, TracesExport};
use crate::error::ConfigError;

/// The OTLP exporter variables whose presence means spans go over OTLP
/// rather than to the Agent's trace intake.
const OTLP_VARIABLES: &[&str] = &[
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
];

impl OtelBuilder {
    /// Reads the configuration from the environment (each variable is
    /// declared, with its default, in the catalogue's
    /// [`env`](pipeline_telemetry_catalogue::env) module):
    ///
    /// | variable | setting |
    /// |---|---|
    /// | [`DD_SERVICE`], else [`OTEL_SERVICE_NAME`] | service |
    /// | [`DD_ENV`] | env |
    /// | [`DD_VERSION`] | version |
    /// | [`OTEL_RESOURCE_ATTRIBUTES`] (`k=v,...`), [`DD_TAGS`] (`k:v,...`) | resource attributes |
    /// | [`OTEL_EXPORTER_OTLP_ENDPOINT`] | endpoint |
    /// | [`OTEL_EXPORTER_OTLP_PROTOCOL`] (`grpc`, `http/protobuf`) | protocol |
    /// | [`DD_AGENT_HOST`] | Agent host (spans to its trace intake when no OTLP endpoint is set) |
    /// | [`DD_TRACE_AGENT_URL`] (`http://host:8126`, `unix:///path`), [`DD_TRACE_AGENT_PORT`] | the Agent's trace intake |
    /// | [`PIPELINE_TELEMETRY_TRACES`] or [`OTEL_TRACES_EXPORTER`] (`otlp`, `console`, `none`) | traces export |
    /// | [`PIPELINE_TELEMETRY_LOG_FORMAT`] (`json`, `human`) | log format |
    /// | [`PIPELINE_TELEMETRY_OTLP_LOGS`] (`true`), or `OTEL_LOGS_EXPORTER=otlp` | OTLP log export |
    /// | [`PIPELINE_TELEMETRY_LOG_LOSSLESS`] (`true`) | log lines wait for a slow output instead of being dropped |
    /// | [`OTEL_BSP_MAX_QUEUE_SIZE`], [`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`], [`OTEL_BSP_SCHEDULE_DELAY`] (ms), [`OTEL_BSP_EXPORT_TIMEOUT`] (ms) | batching |
    /// | [`RUST_LOG`] | log filter (default `info`) |
    /// | [`PIPELINE_TELEMETRY_TRACE_FILTER`] | trace filter (default `info`) |
    /// | [`DD_TRACE_SAMPLING_RULES`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLING_RULES), [`DD_TRACE_SAMPLE_RATE`](pipeline_telemetry_catalogue::env::DD_TRACE_SAMPLE_RATE), [`DD_TRACE_RATE_LIMIT`](pipeline_telemetry_catalogue::env::DD_TRACE_RATE_LIMIT) | trace sampling ([`SamplingConfig`](crate::SamplingConfig)) |
    ///
    /// Invalid values do not fail here: the default is kept, and they are
    /// returned as errors by [`install`](Self::install) /
    /// [`build_layer`](Self::build_layer), or reported with what was done
    /// instead by [`install_lenient`](Self::install_lenient). Sizes over
    /// [`MAX_QUEUE_SIZE`](crate::MAX_QUEUE_SIZE) are capped and reported.
    ///
    /// ```
    /// let builder = pipeline_telemetry_otel::OtelBuilder::from_env().with_version("2.0.0");
    /// # drop(builder);
    /// ```
    pub fn from_env() -> Self {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// [`from_env`](Self::from_env) over any lookup function instead of the
    /// process environment (a configuration file, a test).
    ///
    /// ```
    /// let b = pipeline_telemetry_otel::OtelBuilder::from_lookup(|k| {
    ///     (k == "DD_AGENT_HOST").then(|| "datadog-agent".to_owned())
    /// });
    /// # drop(b);
    /// ```
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |key: &str| get(key).filter(|v| !v.trim().is_empty());
        let mut b = Self::empty();

        if let Some(attrs) = get(OTEL_RESOURCE_ATTRIBUTES) {
            b.resource_attributes
                .extend(parse_otel_resource_attributes(&attrs));
        }
        if let Some(tags) = get(DD_TAGS) {
            b.resource_attributes.extend(parse_dd_tags(&tags));
        }
        b.service = get(DD_SERVICE).or_else(|| get(OTEL_SERVICE_NAME));
        b.env = get(DD_ENV);
        b.version = get(DD_VERSION);

        b.endpoint = get(OTEL_EXPORTER_OTLP_ENDPOINT);
        b.endpoint_setting = OTEL_EXPORTER_OTLP_ENDPOINT;
        b.agent_host = get(DD_AGENT_HOST);
        b.trace_agent_url = get(DD_TRACE_AGENT_URL);
        // Any OTLP exporter variable means OTLP was chosen.
        b.otlp_asked = OTLP_VARIABLES.iter().any(|k| get(k).is_some());
        b.trace_agent_port = get(DD_TRACE_AGENT_PORT);
        if let Some(p) = get(OTEL_EXPORTER_OTLP_PROTOCOL) {
            b.protocol_setting = OTEL_EXPORTER_OTLP_PROTOCOL;
            match Protocol::parse(&p) {
                Ok(p) => b.protocol = Some(p),
                // Never a guess at the receiver's transport.
                Err(e) => b.note(e, "", NoteKind::BlocksOtlp),
            }
        }
        let traces = get(PIPELINE_TELEMETRY_TRACES)
            .map(|v| (PIPELINE_TELEMETRY_TRACES, v))
            .or_else(|| get(OTEL_TRACES_EXPORTER).map(|v| (OTEL_TRACES_EXPORTER, v)));
        if let Some((var, value)) = traces {
            match TracesExport::parse(&value) {
                Ok(t) => b.traces = Some(t),
                Err(mut e) => {
                    e.setting = var.to_owned();
                    b.note(
                        e,
                        "using the default (OTLP with an endpoint, else the Agent's trace intake when an Agent is configured or found, else the console)",
                        NoteKind::Ignored,
                    );
                }
            }
        }
        if let Some(f) = get(PIPELINE_TELEMETRY_LOG_FORMAT) {
            match LogFormat::parse(&f) {
                Ok(f) => b.log_format = f,
                Err(e) => b.note(e, "writing human-readable lines", NoteKind::Ignored),
            }
        }
        if let Some(v) = get(PIPELINE_TELEMETRY_OTLP_LOGS) {
            match parse_bool(PIPELINE_TELEMETRY_OTLP_LOGS, &v) {
                Ok(on) => b.otlp_logs = on,
                Err(e) => b.note(e, "OTLP log export stays off", NoteKind::Ignored),
            }
        } else if let Some(v) = get(OTEL_LOGS_EXPORTER) {
            b.otlp_logs = v.trim().eq_ignore_ascii_case("otlp");
        }
        if let Some(v) = get(PIPELINE_TELEMETRY_LOG_LOSSLESS) {
            match parse_bool(PIPELINE_TELEMETRY_LOG_LOSSLESS, &v) {
                Ok(on) => b.lossless_logs = on,
                Err(e) => b.note(
                    e,
                    "log lines that the output cannot take are dropped and counted",
                    NoteKind::Ignored,
                ),
            }
        }

        // Any whole number is taken (sizes capped, durations of any
        // length); anything else keeps the default.
        let number = |b: &mut Self, key: &str, default: String| -> Option<u64> {
            let raw = get(key)?;
            match raw.trim().parse::<u64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    b.note(
                        ConfigError::new(key, raw, "expected a whole number"),
                        format!("using the default {default}"),
                        NoteKind::Ignored,
                    );
                    None
                }
            }
        };
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        if let Some(n) = number(
            &mut b,
            OTEL_BSP_MAX_QUEUE_SIZE,
            DEFAULT_QUEUE_SIZE.to_string(),
        ) {
            b.queue_size = b.capped(OTEL_BSP_MAX_QUEUE_SIZE, size(n), MAX_QUEUE_SIZE);
        }
        let batch = DEFAULT_MAX_BATCH_SIZE.to_string();
        if let Some(n) = number(&mut b, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, batch) {
            b.max_batch_size = b.capped(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, size(n), MAX_QUEUE_SIZE);
        }
        let ms = |d: Duration| format!("{} ms", d.as_millis());
        if let Some(n) = number(&mut b, OTEL_BSP_SCHEDULE_DELAY, ms(DEFAULT_BATCH_DELAY)) {
            b.batch_delay = Duration::from_millis(n);
        }
        if let Some(n) = number(&mut b, OTEL_BSP_EXPORT_TIMEOUT, ms(DEFAULT_EXPORT_TIMEOUT)) {
            b.export_timeout = Duration::from_millis(n);
        }

        b.log_filter = get(RUST_LOG);
        b.trace_filter = get(PIPELINE_TELEMETRY_TRACE_FILTER);
        let (sampling, notes) = crate::sampling::SamplingConfig::from_lookup(&get);
        b.sampling = sampling;
        for (error, instead) in notes {
            b.note(error, instead, NoteKind::Ignored);
        }
        b
    }
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key1=value1,key2=value2`, values
/// percent-encoded. Malformed pairs are skipped.
pub(crate) fn parse_otel_resource_attributes(raw: &str) -> Vec<(String, String)> {
    raw.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

/// The tags of [`DD_TAGS`] as resource attributes, parsed by the catalogue's
/// [`dd_tags`](vars::dd_tags) (the one parser of that format). Tags without
/// a value or without a key are skipped (a resource attribute needs both).
pub(crate) fn parse_dd_tags(raw: &str) -> Vec<(String, String)> {
    vars::dd_tags(raw)
        .filter_map(|(k, v)| {
            let v = v?;
            (!k.is_empty()).then(|| (k.to_owned(), v.to_owned()))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let value = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn builder(vars: &[(&str, &str)]) -> OtelBuilder {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OtelBuilder::from_lookup(move |k| map.get(k).cloned())
    }

    #[test]
    fn datadog_variables_win_over_otel_ones() {
        let b = builder(&[
            (DD_SERVICE, "prefect"),
            (OTEL_SERVICE_NAME, "other"),
            (DD_ENV, "prod"),
            (DD_VERSION, "1.2"),
            (DD_TAGS, "team:data, region:eu bare"),
            (OTEL_RESOURCE_ATTRIBUTES, "a=b%20c,broken,=x"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://agent:4318"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
            (PIPELINE_TELEMETRY_LOG_FORMAT, "json"),
            (OTEL_BSP_MAX_QUEUE_SIZE, "10"),
        ]);
        assert_eq!(b.service.as_deref(), Some("prefect"));
        assert_eq!(b.env.as_deref(), Some("prod"));
        assert_eq!(b.version.as_deref(), Some("1.2"));
        assert_eq!(
            b.resource_attributes,
            vec![
                ("a".to_owned(), "b c".to_owned()),
                ("team".to_owned(), "data".to_owned()),
                ("region".to_owned(), "eu".to_owned()),
            ]
        );
        assert_eq!(b.endpoint.as_deref(), Some("http://agent:4318"));
        assert_eq!(b.protocol, Some(Protocol::HttpProtobuf));
        assert_eq!(b.log_format, LogFormat::Json);
        assert_eq!(b.queue_size, 10);
        assert!(b.notes.is_empty(), "{:?}", b.notes);
    }

    #[test]
    fn invalid_values_are_kept_for_install() {
        let b = builder(&[
            (OTEL_EXPORTER_OTLP_PROTOCOL, "carrier-pigeon"),
            (OTEL_SERVICE_NAME, "svc"),
        ]);
        assert_eq!(b.service.as_deref(), Some("svc"));
        let note = b.notes.first().expect("error kept");
        assert_eq!(note.error.setting, OTEL_EXPORTER_OTLP_PROTOCOL);
        assert_eq!(note.kind, NoteKind::BlocksOtlp);
    }

    #[test]
    fn sizes_are_capped_and_noted() {
        let b = builder(&[
            (OTEL_BSP_MAX_QUEUE_SIZE, "18446744073709551615"),
            (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, "100000000"),
        ]);
        assert_eq!(b.queue_size, MAX_QUEUE_SIZE);
        assert_eq!(b.max_batch_size, MAX_QUEUE_SIZE);
        let settings: Vec<_> = b
            .notes
            .iter()
            .map(|n| (n.error.setting.as_str(), n.kind))
            .collect();
        assert_eq!(
            settings,
            [
                (OTEL_BSP_MAX_QUEUE_SIZE, NoteKind::Capped),
                (OTEL_BSP_MAX_EXPORT_BATCH_SIZE, NoteKind::Capped)
            ]
        );
        assert_eq!(b.notes[0].instead, format!("using {MAX_QUEUE_SIZE}"));
        // In code as well.
        let b = OtelBuilder::new("svc")
            .with_queue_size(usize::MAX)
            .with_max_batch_size(0)
            .with_log_queue_lines(usize::MAX);
        assert_eq!(b.queue_size, MAX_QUEUE_SIZE);
        assert_eq!(b.max_batch_size, 1);
        assert_eq!(b.log_queue_lines, crate::MAX_LOG_QUEUE_LINES);
        assert_eq!(b.notes.len(), 2);
    }

    #[test]
    fn durations_of_any_length_are_taken() {
        let b = builder(&[
            (OTEL_BSP_SCHEDULE_DELAY, "18446744073709551615"),
            (OTEL_BSP_EXPORT_TIMEOUT, "18446744073709551615"),
        ]);
        assert_eq!(b.batch_delay, Duration::from_millis(u64::MAX));
        assert_eq!(b.export_timeout, Duration::from_millis(u64::MAX));
        assert!(b.notes.is_empty());
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%2Cb%zz%"), "a,b%zz%");
    }
}
