//! The small enums that name the choices of [`OtelBuilder`](crate::OtelBuilder),
//! and the parsing of their environment-variable spellings.

use pipeline_telemetry_catalogue::env::{
    OTEL_EXPORTER_OTLP_PROTOCOL, PIPELINE_TELEMETRY_LOG_FORMAT, PIPELINE_TELEMETRY_TRACES,
};

use crate::error::ConfigError;

/// The OTLP transport.
///
/// Each needs a feature (of `pipeline-telemetry` or of this crate); a
/// default build has neither and sends spans to the Datadog Agent's own
/// trace intake instead. Selecting a transport this build lacks is a
/// [`ConfigError`] at install, never a fall back to the other transport on
/// a port someone chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP over gRPC (the Agent listens on 4317): feature `otlp` of
    /// `pipeline-telemetry` (`otlp-grpc` of this crate).
    Grpc,
    /// OTLP over HTTP with protobuf bodies (the Agent listens on 4318):
    /// feature `otlp-http`.
    HttpProtobuf,
}

/// Why gRPC is refused in a build without the `otlp-grpc` feature.
pub(crate) const GRPC_NOT_BUILT: &str = "needs the `otlp` feature of pipeline-telemetry \
(`otlp-grpc` of pipeline-telemetry-otel), which this build lacks";

/// Why HTTP/protobuf is refused in a build without the `otlp-http` feature.
pub(crate) const HTTP_NOT_BUILT: &str = "needs the `otlp-http` feature of pipeline-telemetry \
(or of pipeline-telemetry-otel), which this build lacks";

/// The OTLP transports a build has: a value, so that the resolution of
/// settings is tested for every build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Built {
    pub(crate) grpc: bool,
    pub(crate) http: bool,
}

impl Built {
    /// This build's transports.
    pub(crate) const THIS: Built = Built {
        grpc: cfg!(feature = "otlp-grpc"),
        http: cfg!(feature = "otlp-http"),
    };

    pub(crate) fn has(self, protocol: Protocol) -> bool {
        match protocol {
            Protocol::Grpc => self.grpc,
            Protocol::HttpProtobuf => self.http,
        }
    }
}

impl Protocol {
    /// Parses `OTEL_EXPORTER_OTLP_PROTOCOL` values: `grpc` or `http/protobuf`.
    ///
    /// ```
    /// use pipeline_telemetry_otel::Protocol;
    /// assert_eq!(Protocol::parse("grpc"), Ok(Protocol::Grpc));
    /// assert_eq!(Protocol::parse("http/protobuf"), Ok(Protocol::HttpProtobuf));
    /// assert!(Protocol::parse("http/json").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] (setting [`OTEL_EXPORTER_OTLP_PROTOCOL`]) for any
    /// other value, `http/json` included.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" | "http" => Ok(Self::HttpProtobuf),
            _ => Err(ConfigError::new(
                OTEL_EXPORTER_OTLP_PROTOCOL,
                value,
                "expected `grpc` or `http/protobuf`",
            )),
        }
    }

    /// Whether this build can export over this transport: gRPC with the
    /// `otlp-grpc` feature (`otlp` of `pipeline-telemetry`), HTTP/protobuf
    /// with `otlp-http`.
    ///
    /// ```
    /// use pipeline_telemetry_otel::Protocol;
    /// assert_eq!(Protocol::Grpc.is_built_in(), cfg!(feature = "otlp-grpc"));
    /// assert_eq!(Protocol::HttpProtobuf.is_built_in(), cfg!(feature = "otlp-http"));
    /// ```
    pub fn is_built_in(self) -> bool {
        Built::THIS.has(self)
    }

    /// Why this build refuses this transport.
    pub(crate) fn not_built(self) -> &'static str {
        match self {
            Self::Grpc => GRPC_NOT_BUILT,
            Self::HttpProtobuf => HTTP_NOT_BUILT,
        }
    }

    /// The Agent's default OTLP port for this transport.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Grpc => 4317,
            Self::HttpProtobuf => 4318,
        }
    }

    /// The value as written in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines (tracing-subscriber's `fmt` format). The default.
    #[default]
    Human,
    /// One JSON object per line, correlated with traces the way Datadog
    /// expects (`dd.trace_id`, `dd.span_id`, `dd.service`, ...).
    Json,
}

impl LogFormat {
    /// Parses `PIPELINE_TELEMETRY_LOG_FORMAT`: `json`, or `human`/`text`/`pretty`.
    ///
    /// ```
    /// use pipeline_telemetry_otel::LogFormat;
    /// assert_eq!(LogFormat::parse("JSON"), Ok(LogFormat::Json));
    /// assert_eq!(LogFormat::parse("human"), Ok(LogFormat::Human));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] (setting [`PIPELINE_TELEMETRY_LOG_FORMAT`]) for any
    /// other value.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "human" | "text" | "pretty" | "" => Ok(Self::Human),
            _ => Err(ConfigError::new(
                PIPELINE_TELEMETRY_LOG_FORMAT,
                value,
                "expected `json` or `human`",
            )),
        }
    }
}

/// Where finished spans go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TracesExport {
    /// Batched export to the Datadog Agent's own trace intake
    /// (`/v0.4/traces` on port 8126, or its Unix socket), which every Agent
    /// serves by default. The default when an Agent address
    /// (`DD_TRACE_AGENT_URL`, `DD_AGENT_HOST`, `DD_TRACE_AGENT_PORT`) is set
    /// or the Agent's socket exists, and no OTLP endpoint is.
    Datadog,
    /// Batched OTLP export to the configured endpoint (the Datadog Agent's
    /// OTLP receiver, or a collector). The default when an OTLP endpoint is
    /// set.
    Otlp,
    /// One summary line per finished span on the console writer (stderr by
    /// default). The default when no endpoint, no Agent address and no
    /// Agent socket is found.
    Console,
    /// No spans are recorded or exported.
    Off,
}

impl TracesExport {
    /// Parses `PIPELINE_TELEMETRY_TRACES`: `datadog`, `otlp`, `console` or
    /// `off`/`none`.
    ///
    /// ```
    /// use pipeline_telemetry_otel::TracesExport;
    /// assert_eq!(TracesExport::parse("console"), Ok(TracesExport::Console));
    /// assert_eq!(TracesExport::parse("datadog"), Ok(TracesExport::Datadog));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] (setting [`PIPELINE_TELEMETRY_TRACES`]; the builder
    /// renames it when the value came from `OTEL_TRACES_EXPORTER`) for any
    /// other value.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "datadog" | "dd" => Ok(Self::Datadog),
            "otlp" => Ok(Self::Otlp),
            "console" | "stdout" | "stderr" => Ok(Self::Console),
            "off" | "none" | "false" => Ok(Self::Off),
            _ => Err(ConfigError::new(
                PIPELINE_TELEMETRY_TRACES,
                value,
                "expected `datadog`, `otlp`, `console` or `off`",
            )),
        }
    }
}

/// Parses a boolean environment value (`1/0`, `true/false`, `yes/no`, `on/off`).
pub(crate) fn parse_bool(setting: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::new(setting, value, "expected true or false")),
    }
}

/// Checks an OTLP endpoint: an `http://host:port` URL (TLS is not built in;
/// the Agent's receiver is plain text on the local network).
pub(crate) fn validate_endpoint(setting: &str, endpoint: &str) -> Result<String, ConfigError> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    let uri: http::Uri = trimmed
        .parse()
        .map_err(|e: http::uri::InvalidUri| ConfigError::new(setting, endpoint, e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(ConfigError::new(
            setting,
            endpoint,
            "https endpoints are not supported; point it at the Agent's plain-text OTLP receiver",
        )),
        _ => {
            return Err(ConfigError::new(
                setting,
                endpoint,
                "expected a URL such as http://localhost:4317",
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ConfigError::new(setting, endpoint, "the URL has no host"));
    }
    Ok(trimmed.to_owned())
}

/// The transport implied by an endpoint's port when none is given: 4317 is
/// gRPC, anything else HTTP/protobuf (the OTLP default).
pub(crate) fn protocol_for_endpoint(endpoint: &str) -> Protocol {
    match endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.port_u16())
    {
        Some(4317) => Protocol::Grpc,
        _ => Protocol::HttpProtobuf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            validate_endpoint("e", "http://localhost:4317/").as_deref(),
            Ok("http://localhost:4317")
        );
        assert!(validate_endpoint("e", "https://x:4317").is_err());
        assert!(validate_endpoint("e", "localhost:4317").is_err());
        assert!(validate_endpoint("e", "http://").is_err());
        assert_eq!(
            protocol_for_endpoint("http://127.0.0.1:4317"),
            Protocol::Grpc
        );
        assert_eq!(
            protocol_for_endpoint("http://127.0.0.1:4318"),
            Protocol::HttpProtobuf
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(parse_bool("x", "TRUE"), Ok(true));
        assert_eq!(parse_bool("x", "0"), Ok(false));
        assert!(parse_bool("x", "maybe").is_err());
    }
}
