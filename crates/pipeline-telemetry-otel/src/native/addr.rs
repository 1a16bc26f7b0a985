//! Where the Agent's trace intake is, decided as ddtrace decides it
//! (`ddtrace/internal/settings/_agent.py`, `_derive_trace_url`):
//! `DD_TRACE_AGENT_URL`; else `DD_AGENT_HOST` and `DD_TRACE_AGENT_PORT`
//! (either one, the other defaulted); else the Agent's socket when it
//! exists; else `http://localhost:8126`.

use std::path::{Path, PathBuf};

use pipeline_telemetry_catalogue::env::{
    DD_AGENT_HOST, DD_TRACE_AGENT_PORT, DD_TRACE_AGENT_URL, DEFAULT_APM_SOCKET,
};

use super::http1::AgentAddr;
use crate::error::ConfigError;

/// The trace intake's default port.
pub(crate) const DEFAULT_PORT: u16 = 8126;

/// The intake's address and the setting it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Intake {
    pub(crate) addr: AgentAddr,
    /// The variable or builder method that named it, or how it was found.
    pub(crate) source: String,
}

/// What the builder holds for the intake's address.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IntakeSettings<'a> {
    pub(crate) url: Option<&'a str>,
    /// The host, already read the way DogStatsD reads `DD_AGENT_HOST`.
    pub(crate) host: Option<&'a str>,
    pub(crate) port: Option<&'a str>,
}

impl IntakeSettings<'_> {
    /// Whether any address is given.
    pub(crate) fn any(&self) -> bool {
        self.url.is_some() || self.host.is_some() || self.port.is_some()
    }
}

/// The intake named by `s`, else the socket at `socket` when
/// `socket_exists`, else `None` (nothing configured, nothing found).
///
/// # Errors
/// [`ConfigError`] for a URL or port that cannot be used.
pub(crate) fn intake(
    s: IntakeSettings<'_>,
    socket: &Path,
    socket_exists: bool,
) -> Result<Option<Intake>, ConfigError> {
    if let Some(url) = s.url {
        return parse_url(url).map(|addr| {
            Some(Intake {
                addr,
                source: DD_TRACE_AGENT_URL.to_owned(),
            })
        });
    }
    if s.host.is_some() || s.port.is_some() {
        let port = match s.port {
            Some(p) => parse_port(DD_TRACE_AGENT_PORT, p)?,
            None => DEFAULT_PORT,
        };
        let host = s.host.unwrap_or("localhost").to_owned();
        let source = match (s.host.is_some(), s.port.is_some()) {
            (true, true) => format!("{DD_AGENT_HOST} and {DD_TRACE_AGENT_PORT}"),
            (true, false) => DD_AGENT_HOST.to_owned(),
            _ => DD_TRACE_AGENT_PORT.to_owned(),
        };
        return Ok(Some(Intake {
            addr: AgentAddr::Tcp { host, port },
            source,
        }));
    }
    Ok(socket_exists.then(|| Intake {
        addr: AgentAddr::Unix(socket.to_path_buf()),
        source: format!("the Agent's socket {}", socket.display()),
    }))
}

/// The default intake when spans are sent natively and nothing names one.
pub(crate) fn default_intake() -> Intake {
    Intake {
        addr: AgentAddr::Tcp {
            host: "localhost".to_owned(),
            port: DEFAULT_PORT,
        },
        source: "the default".to_owned(),
    }
}

/// The default socket path.
pub(crate) fn default_socket() -> PathBuf {
    PathBuf::from(DEFAULT_APM_SOCKET)
}

fn parse_port(setting: &str, value: &str) -> Result<u16, ConfigError> {
    match value.trim().parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ConfigError::new(
            setting,
            value,
            "expected a port, 1 to 65535",
        )),
    }
}

/// `http://host[:port]` or `unix:///path`.
pub(crate) fn parse_url(url: &str) -> Result<AgentAddr, ConfigError> {
    let bad = |reason: &str| ConfigError::new(DD_TRACE_AGENT_URL, url, reason);
    let trimmed = url.trim();
    if let Some(path) = trimmed.strip_prefix("unix://") {
        if !path.starts_with('/') {
            return Err(bad(
                "expected an absolute socket path, unix:///path/apm.socket",
            ));
        }
        return Ok(AgentAddr::Unix(PathBuf::from(path)));
    }
    let uri: http::Uri = trimmed.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported; the Agent's trace intake is plain HTTP or its Unix socket",
            ))
        }
        _ => return Err(bad("expected http://host:8126 or unix:///path/apm.socket")),
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("the URL has no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    Ok(AgentAddr::Tcp {
        host,
        port: uri.port_u16().unwrap_or(DEFAULT_PORT),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(host: &str, port: u16) -> AgentAddr {
        AgentAddr::Tcp {
            host: host.into(),
            port,
        }
    }

    /// ddtrace's order: the URL, then host/port, then the socket, then
    /// nothing (the caller's default).
    #[test]
    fn order_as_ddtrace() {
        let sock = Path::new("/run/apm.socket");
        let none = IntakeSettings::default();
        assert_eq!(intake(none, sock, false).expect("as written"), None);
        assert_eq!(
            intake(none, sock, true)
                .expect("as written")
                .expect("as written")
                .addr,
            AgentAddr::Unix(sock.into())
        );
        let host = IntakeSettings {
            host: Some("agent"),
            ..none
        };
        assert_eq!(
            intake(host, sock, true)
                .expect("as written")
                .expect("as written")
                .addr,
            tcp("agent", 8126)
        );
        let port = IntakeSettings {
            port: Some("9126"),
            ..none
        };
        assert_eq!(
            intake(port, sock, true)
                .expect("as written")
                .expect("as written")
                .addr,
            tcp("localhost", 9126)
        );
        let url = IntakeSettings {
            url: Some("http://[::1]:7777"),
            ..host
        };
        let found = intake(url, sock, true)
            .expect("as written")
            .expect("as written");
        assert_eq!(
            (found.addr, found.source.as_str()),
            (tcp("::1", 7777), DD_TRACE_AGENT_URL)
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://agent").expect("as written"),
            tcp("agent", 8126)
        );
        assert_eq!(
            parse_url("unix:///var/run/datadog/apm.socket").expect("as written"),
            AgentAddr::Unix("/var/run/datadog/apm.socket".into())
        );
        assert!(parse_url("https://agent:8126").is_err());
        assert!(parse_url("agent:8126").is_err());
        assert!(parse_url("unix://relative.sock").is_err());
        assert!(parse_port("p", "0").is_err());
        assert!(parse_port("p", "70000").is_err());
    }
}
