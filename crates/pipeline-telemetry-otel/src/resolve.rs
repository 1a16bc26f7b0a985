//! Turns an [`OtelBuilder`]'s settings into decisions: which export mode,
//! which endpoint and transport, and the OpenTelemetry resource.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use pipeline_telemetry_catalogue::env::{join_host_port, split_agent_host, DD_AGENT_HOST};

use crate::builder::{NoteKind, OtelBuilder};
use crate::config::{protocol_for_endpoint, validate_endpoint, Built, Protocol, TracesExport};
use crate::error::{ConfigError, InstallError};
use crate::native::addr::{self, Intake, IntakeSettings};
use crate::problem::Problems;

/// The unified service tags, as they go on log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) service: String,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
}

/// Where OTLP data goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Base URL, without a signal path.
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
}

impl Target {
    /// The URL handed to the exporter for one signal (`traces` or `logs`):
    /// HTTP needs the full path, gRPC the bare authority.
    pub(crate) fn signal_url(&self, signal: &str) -> String {
        match self.protocol {
            Protocol::Grpc => self.endpoint.clone(),
            Protocol::HttpProtobuf => format!("{}/v1/{signal}", self.endpoint),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) identity: Identity,
    pub(crate) resource: Resource,
    pub(crate) traces: TracesExport,
    /// Whether log events are exported as OTLP log records.
    pub(crate) otlp_logs: bool,
    /// Set when traces or logs are exported over OTLP.
    pub(crate) target: Option<Target>,
    /// Set when traces go to the Agent's trace intake.
    pub(crate) intake: Option<Intake>,
}

impl Resolved {
    /// One line saying where spans go and why, printed once at install.
    pub(crate) fn destination(&self) -> Option<String> {
        match (self.traces, &self.intake, &self.target) {
            (TracesExport::Datadog, Some(i), _) => Some(format!(
                "spans go to the Datadog Agent's trace intake at {} (from {}); \
                 set OTEL_EXPORTER_OTLP_ENDPOINT to send OTLP instead",
                i.addr, i.source
            )),
            (TracesExport::Otlp, _, Some(t)) => Some(format!(
                "spans go over OTLP ({}) to {}",
                t.protocol.as_str(),
                t.endpoint
            )),
            _ => None,
        }
    }
}

/// Decides export mode, endpoint and transport. Every setting that cannot
/// be used goes through `problems`: strict, the first one is the error;
/// lenient, it is recorded with what is done instead, and what cannot work
/// is turned off (no OTLP export with an unusable endpoint or transport;
/// never a guess that would send gRPC to an HTTP port).
pub(crate) fn resolve(b: &OtelBuilder, problems: &mut Problems) -> Result<Resolved, InstallError> {
    resolve_with(b, problems, Built::THIS)
}

/// [`resolve`] with the transports built in as a parameter, so that tests
/// check every build.
pub(crate) fn resolve_with(
    b: &OtelBuilder,
    problems: &mut Problems,
    built: Built,
) -> Result<Resolved, InstallError> {
    let lenient = problems.is_lenient();
    // Errors that leave OTLP export nothing it could work with.
    let mut blocking: Vec<ConfigError> = Vec::new();
    for note in &b.notes {
        match note.kind {
            NoteKind::Capped => problems.adjusted(note.error.clone(), note.instead.clone()),
            NoteKind::Ignored => problems.invalid(note.error.clone(), note.instead.clone())?,
            NoteKind::BlocksOtlp if lenient => blocking.push(note.error.clone()),
            NoteKind::BlocksOtlp => return Err(note.error.clone().into()),
        }
    }
    let explicit = match &b.endpoint {
        Some(e) => match validate_endpoint(b.endpoint_setting, e) {
            Ok(e) => Some(e),
            Err(e) if lenient => {
                blocking.push(e);
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    // The trace intake's host: DD_AGENT_HOST read as for OTLP (a
    // DogStatsD port or URL written there is not the intake's).
    let parsed_host = b.agent_host.as_deref().map(agent_host);
    let intake_host = match &parsed_host {
        Some(Ok(h)) => Some(*h),
        Some(Err(_)) | None => None,
    };
    let settings = IntakeSettings {
        url: b.trace_agent_url.as_deref(),
        host: intake_host,
        port: b.trace_agent_port.as_deref(),
    };
    let socket_exists = !settings.any() && b.apm_socket.exists();
    let asked_traces = b.traces.unwrap_or(if b.endpoint.is_some() || b.otlp_asked {
        TracesExport::Otlp
    } else if settings.any() || b.agent_host.is_some() || socket_exists {
        TracesExport::Datadog
    } else {
        TracesExport::Console
    });
    let mut intake = None;
    let mut intake_problem = None;
    if asked_traces == TracesExport::Datadog {
        let found = match parsed_host {
            Some(Err(e)) if settings.url.is_none() => Err(e),
            _ => addr::intake(settings, &b.apm_socket, socket_exists),
        }
        // The builder's headers go on every intake request too: checked as
        // for OTLP (no CR/LF can reach the request head).
        .and_then(|found| check_headers(&b.headers).map(|()| found));
        match found {
            Ok(found) => intake = Some(found.unwrap_or_else(addr::default_intake)),
            Err(e) if lenient => intake_problem = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    let needs_target = asked_traces == TracesExport::Otlp || b.otlp_logs;
    let mut target = None;
    if needs_target && blocking.is_empty() {
        let found = otlp_target(b, explicit.as_deref(), built, problems)?
            .and_then(|t| check_headers(&b.headers).map(|()| t));
        match found {
            Ok(t) => target = Some(t),
            Err(e) if lenient => blocking.push(e),
            Err(e) => return Err(e.into()),
        }
    }
    let (mut traces, mut otlp_logs) = (asked_traces, b.otlp_logs);
    let instead = if !needs_target {
        "ignored: nothing is exported over OTLP"
    } else {
        traces = match asked_traces {
            TracesExport::Otlp if target.is_none() => TracesExport::Off,
            other => other,
        };
        otlp_logs = b.otlp_logs && target.is_some();
        match (asked_traces == TracesExport::Otlp, b.otlp_logs) {
            (true, false) => "spans are not exported",
            (false, true) => "OTLP log records are not exported",
            _ => "spans and OTLP log records are not exported",
        }
    };
    for e in blocking {
        problems.invalid(e, instead)?;
    }
    if let Some(e) = intake_problem {
        traces = TracesExport::Off;
        problems.invalid(e, "spans are not exported")?;
    }
    let identity = identity(b);
    let resource = resource(b, &identity);
    Ok(Resolved {
        identity,
        resource,
        traces,
        otlp_logs,
        target,
        intake,
    })
}

/// Where OTLP goes: the explicit endpoint with its transport, else the
/// Agent host (or localhost) on the transport's default port. A transport
/// this build lacks: with an explicit endpoint an error (never the other
/// transport to a port someone chose); with a port of our own choosing,
/// lenient mode sends over the other transport, if built, to the Agent's
/// port for it instead, and says so.
///
/// # Errors
/// The outer error when strict; the inner one when no target can be used.
fn otlp_target(
    b: &OtelBuilder,
    explicit: Option<&str>,
    built: Built,
    problems: &mut Problems,
) -> Result<Result<Target, ConfigError>, InstallError> {
    let protocol = match (protocol(b, explicit, built), explicit) {
        (Ok(p), _) => p,
        (Err(e), None) if problems.is_lenient() => {
            // The other transport, if built, to the Agent's port for it;
            // else no target, and the caller reports `e` once, as for any
            // unusable setting.
            let other = [Protocol::Grpc, Protocol::HttpProtobuf]
                .into_iter()
                .find(|p| built.has(*p));
            let Some(Ok(t)) = other.map(|p| agent_target(b, p)) else {
                return Ok(Err(e));
            };
            let over = match t.protocol {
                Protocol::Grpc => "gRPC",
                Protocol::HttpProtobuf => "HTTP/protobuf",
            };
            problems.invalid(
                e,
                format!(
                    "spans go over {over} to the Agent's {over} port ({}) instead",
                    t.endpoint
                ),
            )?;
            return Ok(Ok(t));
        }
        (Err(e), _) => return Ok(Err(e)),
    };
    Ok(match explicit {
        Some(e) => Ok(Target {
            endpoint: e.to_owned(),
            protocol,
        }),
        None => agent_target(b, protocol),
    })
}

/// The Agent host's (or localhost's) default port for `protocol`.
fn agent_target(b: &OtelBuilder, protocol: Protocol) -> Result<Target, ConfigError> {
    let port = protocol.default_port();
    let endpoint = match &b.agent_host {
        Some(host) => {
            let url = format!("http://{}", join_host_port(agent_host(host)?, port));
            validate_endpoint(DD_AGENT_HOST, &url)?
        }
        None => format!("http://localhost:{port}"),
    };
    Ok(Target { endpoint, protocol })
}

/// The host of `DD_AGENT_HOST` (an IPv6 address without brackets), read
/// as the DogStatsD exporter reads it ([`split_agent_host`]): a port
/// written with it is DogStatsD's and is dropped. The value may also hold
/// a DogStatsD URL: the host of `udp://host:port`; a socket path
/// (`unix://`, ...) names no host for OTLP.
fn agent_host(value: &str) -> Result<&str, ConfigError> {
    let value = value.trim();
    let bad = |reason: String| ConfigError::new(DD_AGENT_HOST, value, reason);
    let Some((scheme, rest)) = value.split_once("://") else {
        return split_agent_host(value).map(|(host, _)| host).map_err(bad);
    };
    if !scheme.eq_ignore_ascii_case("udp") {
        return Err(bad(
            "names no Agent host (a socket path); set DD_TRACE_AGENT_URL \
             (unix:///path/apm.socket) or OTEL_EXPORTER_OTLP_ENDPOINT"
                .to_owned(),
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    split_agent_host(authority)
        .map(|(host, _)| host)
        .map_err(bad)
}

/// Headers that can go on a request (checked before any thread starts).
fn check_headers(headers: &[(String, String)]) -> Result<(), ConfigError> {
    crate::sink::header_map(headers).map(drop)
}

/// The transport: the one set, else the one implied by an explicit
/// endpoint's port, else gRPC (HTTP/protobuf in a build with only that).
/// A transport this build lacks (`built`, a parameter so that tests check
/// every build) is an error naming the setting that chose it.
fn protocol(
    b: &OtelBuilder,
    endpoint: Option<&str>,
    built: Built,
) -> Result<Protocol, ConfigError> {
    let (protocol, setting, value) = match (b.protocol, endpoint) {
        (Some(p), _) => (p, b.protocol_setting, p.as_str().to_owned()),
        (None, Some(e)) if b.endpoint.is_some() => {
            let p = protocol_for_endpoint(e);
            if !built.has(p) {
                let (port, other) = match p {
                    Protocol::Grpc => ("4317 means OTLP over gRPC", Protocol::HttpProtobuf),
                    Protocol::HttpProtobuf => (
                        "other than 4317 means OTLP over HTTP/protobuf",
                        Protocol::Grpc,
                    ),
                };
                let hint = if built.has(other) {
                    format!(
                        " (set the protocol to `{}` for such a receiver on this port)",
                        other.as_str()
                    )
                } else {
                    String::new()
                };
                return Err(ConfigError::new(
                    b.endpoint_setting,
                    e,
                    format!("a port {port}, which {}{hint}", p.not_built()),
                ));
            }
            return Ok(p);
        }
        // No transport named: ours to choose, so the one this build has.
        _ if !built.grpc && built.http => return Ok(Protocol::HttpProtobuf),
        _ => (
            Protocol::Grpc,
            "OTLP export",
            Protocol::Grpc.as_str().to_owned(),
        ),
    };
    need(protocol, built, setting, &value)
}

/// `protocol` if this build has it, else the error naming `setting`.
fn need(
    protocol: Protocol,
    built: Built,
    setting: &'static str,
    value: &str,
) -> Result<Protocol, ConfigError> {
    if built.has(protocol) {
        Ok(protocol)
    } else {
        Err(ConfigError::new(setting, value, protocol.not_built()))
    }
}

fn attribute<'a>(b: &'a OtelBuilder, keys: &[&str]) -> Option<&'a str> {
    // The last value for a key wins, like a later `with_resource_attribute`.
    b.resource_attributes
        .iter()
        .rev()
        .find(|(k, _)| keys.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
}

fn identity(b: &OtelBuilder) -> Identity {
    let service = b
        .service
        .clone()
        .or_else(|| attribute(b, &["service.name"]).map(str::to_owned))
        .unwrap_or_else(default_service_name);
    let env = b.env.clone().or_else(|| {
        attribute(
            b,
            &["deployment.environment.name", "deployment.environment"],
        )
        .map(str::to_owned)
    });
    let version = b
        .version
        .clone()
        .or_else(|| attribute(b, &["service.version"]).map(str::to_owned));
    Identity {
        service,
        env,
        version,
    }
}

/// OpenTelemetry's fallback: `unknown_service:<executable name>`.
fn default_service_name() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
    });
    match exe {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

fn resource(b: &OtelBuilder, id: &Identity) -> Resource {
    let mut attrs: Vec<KeyValue> = b
        .resource_attributes
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "service.name"
                    | "service.version"
                    | "deployment.environment"
                    | "deployment.environment.name"
            )
        })
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    attrs.push(KeyValue::new("telemetry.sdk.name", "opentelemetry"));
    attrs.push(KeyValue::new("telemetry.sdk.language", "rust"));
    attrs.push(KeyValue::new("telemetry.sdk.version", SDK_VERSION));
    if let Some(env) = &id.env {
        // The current semantic convention, and the older key that Agents
        // before the rename still read.
        attrs.push(KeyValue::new("deployment.environment.name", env.clone()));
        attrs.push(KeyValue::new("deployment.environment", env.clone()));
    }
    if let Some(version) = &id.version {
        attrs.push(KeyValue::new("service.version", version.clone()));
    }
    Resource::builder_empty()
        .with_attributes(attrs)
        .with_service_name(id.service.clone())
        .build()
}

/// The `opentelemetry` API version this crate is built against.
const SDK_VERSION: &str = "0.33";

#[cfg(test)]
mod tests;
