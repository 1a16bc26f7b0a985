//! UDP to the Agent, with the Agent's host re-resolved: on a schedule
//! (the Agent's address may change, e.g. a Kubernetes service or node IP),
//! soon after a send error, and, while a name cannot be resolved,
//! every [`RESOLVE_RETRY`] (reported once per failing spell; never fatal).

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::{not_connected, Pacing, Transport, WRITE_TIMEOUT};

/// How a `host:port` is turned into addresses.
pub(crate) type Resolver = Arc<dyn Fn(&str) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The default schedule of re-resolving the Agent's host name.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// How soon an unresolvable name is tried again.
pub const RESOLVE_RETRY: Duration = Duration::from_secs(1);
/// How soon after a send error the name is resolved again, at the earliest.
const RESOLVE_AFTER_ERROR: Duration = Duration::from_millis(200);

/// `now + d`, or a century on (or `now`) when that is past what an
/// [`Instant`] holds: an interval of `Duration::MAX` means "practically
/// never", not a panic.
fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

/// The system resolver (`getaddrinfo`).
pub(crate) fn system_resolver() -> Resolver {
    Arc::new(|host: &str| std::net::ToSocketAddrs::to_socket_addrs(host).map(Iterator::collect))
}

pub(crate) struct Udp {
    host: String,
    resolver: Resolver,
    /// `None` for an IP literal: nothing to re-resolve.
    every: Option<Duration>,
    socket: Option<(UdpSocket, SocketAddr)>,
    resolved_at: Option<Instant>,
    next_resolve: Instant,
    failing: bool,
    pacing: Pacing,
}

impl fmt::Debug for Udp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Udp")
            .field("host", &self.host)
            .field("addr", &self.socket.as_ref().map(|s| s.1))
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// The address to send to among those `host` resolves to, as the Agent
/// (Go) picks the one it listens on: IPv4 first (an IPv4-mapped IPv6
/// address counts as IPv4), unless `host` is a bracketed IPv6 literal;
/// else the first address. A port of Go's `addrList.forResolve` for the
/// `udp` network (`net/ipsock.go`): an Agent with `bind_host: localhost`
/// listens on 127.0.0.1, even where `/etc/hosts` lists `::1 localhost`
/// first. `None` for an empty list.
pub(crate) fn preferred(host: &str, addrs: &[SocketAddr]) -> Option<SocketAddr> {
    let is_v4 = |a: &SocketAddr| match a {
        SocketAddr::V4(_) => true,
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped().is_some(),
    };
    let want6 = host.contains('[');
    addrs
        .iter()
        .find(|a| is_v4(a) != want6)
        .or_else(|| addrs.first())
        .copied()
}

fn open(addr: SocketAddr) -> io::Result<UdpSocket> {
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)?;
    socket.connect(addr)?;
    socket.set_write_timeout(Some(WRITE_TIMEOUT))?;
    Ok(socket)
}

impl Udp {
    /// Does not resolve: that happens on the flusher, so starting never
    /// fails or waits on DNS. An IP literal is connected right away.
    pub(crate) fn new(host: &str, resolver: Resolver, every: Duration) -> io::Result<Self> {
        let now = Instant::now();
        let mut udp = Udp {
            host: host.to_owned(),
            resolver,
            every: Some(every),
            socket: None,
            resolved_at: None,
            next_resolve: now,
            failing: false,
            pacing: Pacing::default(),
        };
        if let Ok(addr) = host.parse::<SocketAddr>() {
            udp.every = None;
            udp.socket = Some((open(addr)?, addr));
        }
        Ok(udp)
    }

    fn resolve(&mut self, now: Instant) {
        let Some(every) = self.every else {
            return;
        };
        self.resolved_at = Some(now);
        let addrs = (self.resolver)(&self.host).and_then(|a| {
            preferred(&self.host, &a)
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
        });
        match addrs {
            Ok(addr) => {
                if self.failing {
                    tracing::info!(target: "pipeline_telemetry_dogstatsd", host = %self.host, "the DogStatsD Agent's host resolves again");
                }
                self.failing = false;
                self.next_resolve = later(now, every);
                if self.socket.as_ref().is_some_and(|s| s.1 == addr) {
                    return;
                }
                match open(addr) {
                    Ok(s) => {
                        self.socket = Some((s, addr));
                        self.pacing = Pacing::default();
                    }
                    Err(e) => {
                        self.next_resolve = now + RESOLVE_RETRY;
                        tracing::warn!(target: "pipeline_telemetry_dogstatsd", addr = %addr, error = %e, "cannot open a UDP socket to the DogStatsD Agent");
                    }
                }
            }
            Err(e) => {
                self.next_resolve = now + RESOLVE_RETRY;
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(
                        target: "pipeline_telemetry_dogstatsd",
                        host = %self.host,
                        error = %e,
                        "cannot resolve the DogStatsD Agent's host; metrics are dropped (and counted) until it resolves, retried every second; reported once"
                    );
                }
            }
        }
    }
}

impl Udp {
    /// Sends to the address resolved last, without resolving.
    fn send_to_known(&mut self, datagram: &[u8]) -> io::Result<()> {
        let Some((socket, _)) = &self.socket else {
            return Err(not_connected());
        };
        let result = self.pacing.send(socket, datagram);
        if result
            .as_ref()
            .is_err_and(|e| e.kind() != io::ErrorKind::WouldBlock)
        {
            // The Agent may have moved (e.g. connection refused): look again soon.
            if let Some(at) = self.resolved_at {
                self.next_resolve = self.next_resolve.min(at + RESOLVE_AFTER_ERROR);
            }
        }
        result
    }
}

impl Transport for Udp {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let now = Instant::now();
        if self.every.is_some() && now >= self.next_resolve {
            self.resolve(now);
        }
        self.send_to_known(datagram)
    }
    fn needs_resolve(&self) -> bool {
        self.socket.is_none() && self.resolve_due()
    }
    fn resolve_due(&self) -> bool {
        self.every.is_some() && Instant::now() >= self.next_resolve
    }
    fn refresh(&mut self) {
        let now = Instant::now();
        if self.every.is_some() && now >= self.next_resolve {
            self.resolve(now);
        }
    }
    fn send_cached(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.send_to_known(datagram)
    }
    fn name(&self) -> &'static str {
        "udp"
    }
    fn begin_flush(&mut self) {
        self.pacing.reset(self.socket.as_ref().map(|s| &s.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    /// Go's `addrList.forResolve("udp", host)`: the first IPv4 address
    /// (`IP.To4() != nil`, so IPv4-mapped IPv6 too) unless the host has a
    /// `[`, then the first non-IPv4 one; else the first of the list.
    #[test]
    fn prefers_ipv4_as_go_does() {
        let v6 = a("[::1]:8125");
        let v4 = a("127.0.0.1:8125");
        let mapped = a("[::ffff:127.0.0.2]:8125");
        let v6b = a("[fe80::1]:8125");
        assert_eq!(preferred("localhost:8125", &[v6, v4]), Some(v4));
        assert_eq!(preferred("localhost:8125", &[v4, v6]), Some(v4));
        assert_eq!(preferred("localhost:8125", &[v6, mapped, v4]), Some(mapped));
        assert_eq!(preferred("localhost:8125", &[v6, v6b]), Some(v6));
        assert_eq!(preferred("[::1]:8125", &[v4, v6]), Some(v6));
        assert_eq!(preferred("[::1]:8125", &[mapped, v6b, v6]), Some(v6b));
        assert_eq!(preferred("[::1]:8125", &[v4]), Some(v4));
        assert_eq!(preferred("agent:8125", &[]), None);
    }
}
