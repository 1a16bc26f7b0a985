//! Where metrics go, resolved from Datadog's environment variables or set
//! in code.

use std::path::PathBuf;

use pipeline_telemetry_catalogue::env::{DD_AGENT_HOST, DD_DOGSTATSD_PORT, DD_DOGSTATSD_URL};

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
    /// [`parse_url`](Self::parse_url) accepts, or `DD_DOGSTATSD_PORT` is not
    /// a port number.
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
            Some(p) => p
                .trim()
                .parse::<u16>()
                .map_err(|_| ConfigError::new(DD_DOGSTATSD_PORT, p.clone(), "not a port number"))?,
            None => DEFAULT_PORT,
        };
        Ok(Some(Target::Udp(join_host_port(host.trim(), port))))
    }

    /// Parses `udp://host:port`, `unix:///path`, `unixgram:///path` or
    /// `unixstream:///path`.
    ///
    /// ```
    /// use pipeline_telemetry_dogstatsd::Target;
    /// let t = Target::parse_url("udp://127.0.0.1:8125", "code").unwrap();
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
                if rest
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                    && !rest.ends_with(']')
                {
                    Ok(Target::Udp(rest.to_owned()))
                } else {
                    Ok(Target::Udp(join_host_port(rest, DEFAULT_PORT)))
                }
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

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
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
