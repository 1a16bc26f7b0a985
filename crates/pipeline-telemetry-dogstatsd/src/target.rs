//! Where metrics go, resolved from Datadog's environment variables or set
//! in code.

use std::path::PathBuf;

use pipeline_telemetry_catalogue::env::{
    join_host_port, split_agent_host, DD_AGENT_HOST, DD_DOGSTATSD_PORT, DD_DOGSTATSD_URL,
};

use crate::error::ConfigError;
use crate::transport::MemorySink;

/// The default Agent address (when [`DD_AGENT_HOST`] and
/// [`DD_DOGSTATSD_URL`] are unset and the fallback is the Agent).
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// The default DogStatsD port (when [`DD_DOGSTATSD_PORT`] is unset).
pub const DEFAULT_PORT: u16 = 8125;
/// The default payload limit over UDP (fits a 1500-byte MTU).
pub const UDP_MAX_PAYLOAD: usize = 1432;
/// The default payload limit over Unix sockets.
pub const UDS_MAX_PAYLOAD: usize = 8192;
/// The largest payload limit
/// [`with_max_payload`](crate::DogStatsDBuilder::with_max_payload) takes:
/// the largest UDP payload over IPv4 (larger values are lowered to it; the
/// Agent reads at most `dogstatsd_buffer_size`, 8 KiB by default, anyway).
pub const MAX_PAYLOAD: usize = 65_507;

/// A DogStatsD destination.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Target {
    /// UDP to `host:port`.
    Udp(String),
    /// A Unix datagram socket.
    UnixDatagram(PathBuf),
    /// A Unix stream socket; each datagram is prefixed by its length
    /// (4 bytes, little-endian).
    UnixStream(PathBuf),
    /// Print each line to standard error (for local runs without an
    /// Agent; standard output stays clean for JSON logs). Written by a
    /// thread of its own: a slow terminal drops and counts, never blocks.
    Console,
    /// Keep datagrams in memory (for tests).
    Memory(MemorySink),
}

impl Target {
    /// The target named by [`DD_DOGSTATSD_URL`], else [`DD_AGENT_HOST`] (+
    /// [`DD_DOGSTATSD_PORT`]); `Ok(None)` when neither is set.
    ///
    /// # Errors
    ///
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Option<Target>, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Target::from_env`] with a custom variable lookup.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the variable when `DD_DOGSTATSD_URL` (or a
    /// `DD_AGENT_HOST` holding a URL) is not a URL
    /// [`parse_url`](Self::parse_url) accepts, `DD_DOGSTATSD_PORT` is not
    /// a port number, or `DD_AGENT_HOST` is not a host, `host:port`, IPv6
    /// address (`::1`, `[::1]`) or `[IPv6]:port`, or names a port other than
    /// `DD_DOGSTATSD_PORT`'s; the reason says what to write instead.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Target>, ConfigError> {
        let get = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        if let Some(url) = get(DD_DOGSTATSD_URL) {
            return Self::parse_url(&url, DD_DOGSTATSD_URL).map(Some);
        }
        let Some(host) = get(DD_AGENT_HOST) else {
            return Ok(None);
        };
        if host.contains("://") {
            return Self::parse_url(&host, DD_AGENT_HOST).map(Some);
        }
        let port = match get(DD_DOGSTATSD_PORT) {
            Some(p) => Some(p.trim().parse::<u16>().map_err(|_| {
                ConfigError::new(DD_DOGSTATSD_PORT, p.clone(), "not a port number")
            })?),
            None => None,
        };
        udp_address(host.trim(), port)
            .map(|a| Some(Target::Udp(a)))
            .map_err(|reason| ConfigError::new(DD_AGENT_HOST, host.clone(), reason))
    }

    /// Parses `udp://host:port`, `unix:///path`, `unixgram:///path` or
    /// `unixstream:///path`.
    ///
    /// ```
    /// use pipeline_telemetry_dogstatsd::Target;
    /// let t = Target::parse_url("udp://127.0.0.1:8125", "code").expect("accepted");
    /// assert!(matches!(t, Target::Udp(a) if a == "127.0.0.1:8125"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] with `setting` = `source_name` when the URL has no
    /// scheme, an unsupported scheme, no host after `udp://` (or a path),
    /// or a socket path that is not absolute.
    pub fn parse_url(url: &str, source_name: &'static str) -> Result<Target, ConfigError> {
        let bad = |reason: &str| ConfigError::new(source_name, url, reason);
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme"))?;
        match scheme {
            "udp" => {
                if rest.is_empty() || rest.contains('/') {
                    return Err(bad("expected udp://host:port"));
                }
                udp_address(rest, None)
                    .map(Target::Udp)
                    .map_err(|r| bad(&r))
            }
            "unix" | "unixgram" | "unixstream" => {
                if !rest.starts_with('/') {
                    return Err(bad("expected an absolute socket path"));
                }
                let path = PathBuf::from(rest);
                Ok(if scheme == "unixstream" {
                    Target::UnixStream(path)
                } else {
                    Target::UnixDatagram(path)
                })
            }
            _ => Err(bad(
                "unsupported scheme (use udp://, unix://, unixgram:// or unixstream://)",
            )),
        }
    }

    /// The largest datagram for this target.
    pub fn default_max_payload(&self) -> usize {
        match self {
            Target::UnixDatagram(_) | Target::UnixStream(_) => UDS_MAX_PAYLOAD,
            _ => UDP_MAX_PAYLOAD,
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::Udp(join_host_port(DEFAULT_HOST, DEFAULT_PORT))
    }
}

/// The `host:port` of a UDP target from what a user wrote as the Agent's
/// host ([`split_agent_host`] says which forms). `env_port` is
/// [`DD_DOGSTATSD_PORT`]: it applies to a host without a port, and must
/// agree with a port written in the host. The error is the reason, saying
/// what to write instead.
fn udp_address(value: &str, env_port: Option<u16>) -> Result<String, String> {
    let (host, written) = split_agent_host(value)?;
    match (written, env_port) {
        (Some(w), Some(p)) if p != w => Err(format!(
            "the host names port {w} while {DD_DOGSTATSD_PORT} says {p}; set the port in one place \
             ({DD_DOGSTATSD_PORT}, with the host alone)"
        )),
        (Some(w), _) => Ok(join_host_port(host, w)),
        (None, p) => Ok(join_host_port(host, p.unwrap_or(DEFAULT_PORT))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn url_wins_over_host_and_port() {
        let t = Target::from_lookup(env(&[
            (DD_DOGSTATSD_URL, "udp://10.0.0.1:9125"),
            (DD_AGENT_HOST, "agent"),
        ]));
        assert!(matches!(t, Ok(Some(Target::Udp(a))) if a == "10.0.0.1:9125"));
    }

    #[test]
    fn host_and_port_and_defaults() {
        let t = Target::from_lookup(env(&[
            (DD_AGENT_HOST, "agent"),
            (DD_DOGSTATSD_PORT, "9999"),
        ]));
        assert!(matches!(t, Ok(Some(Target::Udp(a))) if a == "agent:9999"));
        let t = Target::from_lookup(env(&[(DD_AGENT_HOST, "::1")]));
        assert!(matches!(t, Ok(Some(Target::Udp(a))) if a == "[::1]:8125"));
        assert!(matches!(Target::from_lookup(env(&[])), Ok(None)));
    }

    fn host(value: &str, port: Option<&str>) -> Result<String, ConfigError> {
        let mut vars = vec![(DD_AGENT_HOST, value)];
        vars.extend(port.map(|p| (DD_DOGSTATSD_PORT, p)));
        match Target::from_lookup(env(&vars)) {
            Ok(Some(Target::Udp(a))) => Ok(a),
            Ok(other) => panic!("not a UDP target: {other:?}"),
            Err(e) => Err(e),
        }
    }

    #[test]
    fn agent_host_forms_work_or_say_what_to_set() {
        // IPv6 literals, bare or bracketed, with or without a port.
        assert_eq!(host("::1", None).expect("accepted"), "[::1]:8125");
        assert_eq!(host("[::1]", None).expect("accepted"), "[::1]:8125");
        assert_eq!(host("[::1]", Some("9125")).expect("accepted"), "[::1]:9125");
        assert_eq!(host("[::1]:9125", None).expect("accepted"), "[::1]:9125");
        assert_eq!(
            host("fe80::1", Some("9125")).expect("accepted"),
            "[fe80::1]:9125"
        );
        // host:port, as datadog-go takes it (this was `127.0.0.1:8125:8125`).
        assert_eq!(
            host("127.0.0.1:8125", None).expect("accepted"),
            "127.0.0.1:8125"
        );
        assert_eq!(host("agent:9125", None).expect("accepted"), "agent:9125");
        assert_eq!(
            host("agent:9125", Some("9125")).expect("accepted"),
            "agent:9125"
        );
        assert_eq!(
            host(" agent ", Some("9125")).expect("accepted"),
            "agent:9125"
        );
        // Every address the exporter is given parses or resolves as written.
        for a in [
            host("::1", None),
            host("[::1]:9125", None),
            host("127.0.0.1:8125", None),
        ] {
            assert!(a.expect("accepted").parse::<std::net::SocketAddr>().is_ok());
        }
        // Failures say which variable and what to set.
        let e = host("agent:9125", Some("8125")).expect_err("rejected");
        assert_eq!(e.setting, DD_AGENT_HOST);
        assert!(e.reason.contains(DD_DOGSTATSD_PORT), "{e:?}");
        let e = host("agent:http", None).expect_err("rejected");
        assert!(e.reason.contains(DD_DOGSTATSD_PORT), "{e:?}");
        let e = host("[::1", None).expect_err("rejected");
        assert!(e.reason.contains("[::1]:8125"), "{e:?}");
        assert!(host("[agent]:1", None).is_err());
        assert!(host("[::1]x", None).is_err());
        let e = host("fe80::1::2", None).expect_err("rejected");
        assert!(e.reason.contains("[::1]:8125"), "{e:?}");
        assert!(host(":8125", None).is_err());
    }

    #[test]
    fn udp_urls_take_ipv6_literals() {
        let udp = |u: &str| match Target::parse_url(u, "code") {
            Ok(Target::Udp(a)) => a,
            other => panic!("{u}: {other:?}"),
        };
        assert_eq!(udp("udp://::1"), "[::1]:8125");
        assert_eq!(udp("udp://[::1]"), "[::1]:8125");
        assert_eq!(udp("udp://[::1]:9125"), "[::1]:9125");
        assert_eq!(udp("udp://localhost"), "localhost:8125");
        assert_eq!(udp("udp://localhost:9125"), "localhost:9125");
        assert!(Target::parse_url("udp://agent:x", "code").is_err());
    }

    #[test]
    fn unix_and_errors() {
        let t = Target::from_lookup(env(&[(DD_AGENT_HOST, "unix:///var/run/dsd.socket")]));
        assert!(
            matches!(t, Ok(Some(Target::UnixDatagram(p))) if p.as_os_str() == "/var/run/dsd.socket")
        );
        let t = Target::parse_url("unixstream:///run/dsd.socket", "code");
        assert!(matches!(t, Ok(Target::UnixStream(p)) if p.as_os_str() == "/run/dsd.socket"));
        assert!(Target::parse_url("tcp://x:1", "code").is_err());
        assert!(Target::parse_url("udp://", "code").is_err());
        assert!(
            Target::from_lookup(env(&[(DD_AGENT_HOST, "a"), (DD_DOGSTATSD_PORT, "x")])).is_err()
        );
    }
}
