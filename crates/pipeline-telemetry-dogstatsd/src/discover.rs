//! Where a Datadog client sends metrics when no address is configured: the
//! Agent's default socket when it exists, else an Agent found listening on
//! localhost. Only loopback is ever probed.
//!
//! Whether something listens on a loopback UDP port is read from the
//! kernel's socket tables (`/proc/net/udp`, `/proc/net/udp6`: the sockets
//! of this network namespace, which is what loopback reaches): no packet,
//! no wait, no guess. Where those cannot be read, an empty datagram is sent
//! and the kernel's "port unreachable" awaited (see [`PROBE_WAIT`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline_telemetry_catalogue::env::DD_DOGSTATSD_PORT;

use crate::target::{Target, DEFAULT_PORT};

/// The Agent's default DogStatsD socket, used when it exists and no address
/// is configured. This is what Datadog's Go tracer, dd-trace-go, does for
/// its own metrics (`os.Stat` of this path succeeds, else
/// `localhost:8125`); the DogStatsD client datadog-go itself has no default
/// (`statsd.New("")` without `DD_AGENT_HOST` or `DD_DOGSTATSD_URL` is an
/// error).
pub const DEFAULT_SOCKET: &str = "/var/run/datadog/dsd.socket";

/// How long [`Target::discover`] waits for the ICMP "port unreachable"
/// that says nothing listens on localhost, where the kernel's socket tables
/// cannot be read (on loopback it comes at once, unless the machine is so
/// loaded that it comes later: then an Agent is wrongly assumed, and
/// metrics sent there are dropped by the kernel).
pub const PROBE_WAIT: Duration = Duration::from_millis(100);

/// What [`Target::discover`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Discovery {
    /// The Agent's socket exists at this path.
    Socket(PathBuf),
    /// Something listens on this loopback UDP address (the Agent's default
    /// `bind_host: localhost` is 127.0.0.1).
    Local(SocketAddr),
    /// Neither: no socket at the path, and nothing on the loopback port.
    Nothing {
        /// The socket path looked at.
        socket: PathBuf,
        /// The loopback address probed.
        local: SocketAddr,
    },
}

impl Discovery {
    /// The target found, if any.
    pub fn target(&self) -> Option<Target> {
        match self {
            Discovery::Socket(p) => Some(Target::UnixDatagram(p.clone())),
            Discovery::Local(a) => Some(Target::Udp(a.to_string())),
            Discovery::Nothing { .. } => None,
        }
    }

    /// One sentence: what was found and why it was chosen (or that nothing
    /// was found, and where it was looked for).
    pub fn describe(&self) -> String {
        match self {
            Discovery::Socket(p) => format!(
                "the Datadog Agent's socket unix://{} (it exists)",
                p.display()
            ),
            Discovery::Local(a) => {
                format!("the Datadog Agent on udp://{a} (something listens there)")
            }
            Discovery::Nothing { socket, local } => format!(
                "no Datadog Agent found (no socket at {}, nothing listening on udp://{local})",
                socket.display()
            ),
        }
    }
}

impl Target {
    /// Where metrics go when neither `DD_DOGSTATSD_URL` nor `DD_AGENT_HOST`
    /// is set, as a Datadog client finds the Agent: its default socket
    /// [`DEFAULT_SOCKET`] when that path exists, else an Agent listening on
    /// `127.0.0.1` at [`DD_DOGSTATSD_PORT`] (default 8125).
    ///
    /// Finding an Agent on localhost reads the kernel's UDP socket tables
    /// (`/proc/net/udp` and `/proc/net/udp6`, a few kilobytes: well under a
    /// millisecond, nothing sent): a socket bound to the port at
    /// `127.0.0.1`, `0.0.0.0` or `::` is a listener. Where the tables
    /// cannot be read, it sends one empty datagram to `127.0.0.1:port` from
    /// a connected UDP socket and blocks at most [`PROBE_WAIT`] for the ICMP
    /// "port unreachable" that the kernel turns into `ECONNREFUSED` when
    /// nothing listens (the full wait is spent when something does). The
    /// Agent ignores an empty datagram: its UDP listener hands the zero
    /// bytes to the packet assembler, which adds no message, and its parser
    /// skips empty messages (datadog-agent `comp/dogstatsd/listeners/udp.go`,
    /// `comp/dogstatsd/packets/assembler.go` `AddMessage`,
    /// `comp/dogstatsd/server/impl/server.go` `parsePackets`). Nothing is
    /// sent anywhere but loopback, nothing is bound that an Agent starting
    /// meanwhile would need, and no answer is expected.
    pub fn discover() -> Discovery {
        let port = std::env::var(DD_DOGSTATSD_PORT)
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok())
            .unwrap_or(DEFAULT_PORT);
        Self::discover_with(
            Path::new(DEFAULT_SOCKET),
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        )
    }

    /// The Agent's default address, without probing: [`DEFAULT_SOCKET`]
    /// when that path exists, else `udp://127.0.0.1:8125`
    /// ([`Target::default`]).
    pub fn default_agent() -> Target {
        let socket = Path::new(DEFAULT_SOCKET);
        if std::fs::metadata(socket).is_ok() {
            Target::UnixDatagram(socket.to_owned())
        } else {
            Target::default()
        }
    }

    /// [`discover`](Self::discover) with the socket path and the loopback
    /// address given. A `local` address that is not loopback is never
    /// probed (found: nothing).
    pub fn discover_with(socket: &Path, local: SocketAddr) -> Discovery {
        // As dd-trace-go: the path exists (following links), whatever it is.
        if std::fs::metadata(socket).is_ok() {
            return Discovery::Socket(socket.to_owned());
        }
        if local.ip().is_loopback() && listens(local).unwrap_or(false) {
            return Discovery::Local(local);
        }
        Discovery::Nothing {
            socket: socket.to_owned(),
            local,
        }
    }
}

/// Whether something listens on the loopback UDP address `to`: from the
/// kernel's tables where they can be read, else by a probe.
fn listens(to: SocketAddr) -> io::Result<bool> {
    match bound_in_tables(to) {
        Some(found) => Ok(found),
        None => probe(to),
    }
}

/// Whether a UDP socket of this network namespace is bound, unconnected,
/// to `to`'s port at an address `to` reaches; `None` when neither
/// `/proc/net/udp` nor `/proc/net/udp6` can be read.
fn bound_in_tables(to: SocketAddr) -> Option<bool> {
    let tables = ["/proc/net/udp", "/proc/net/udp6"].map(std::fs::read_to_string);
    if tables.iter().all(Result::is_err) {
        return None;
    }
    Some(tables.iter().flatten().any(|t| table_has_listener(t, to)))
}

/// Whether a socket table (the text of `/proc/net/udp` or `udp6`) holds an
/// unconnected socket bound to `to`'s port at `to`'s address, or at the
/// unspecified address of its family (`::` also takes IPv4: dual-stack, as
/// a Go program listening on `:8125` binds).
pub(crate) fn table_has_listener(table: &str, to: SocketAddr) -> bool {
    table
        .lines()
        .skip(1)
        .filter_map(table_entry)
        .any(|(local, remote)| {
            remote.port() == 0 && local.port() == to.port() && reaches(local.ip(), to.ip())
        })
}

/// The local and remote addresses of one line of a socket table.
fn table_entry(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let mut fields = line.split_whitespace();
    let _slot = fields.next()?;
    Some((hex_address(fields.next()?)?, hex_address(fields.next()?)?))
}

/// `0100007F:1FBD` (the kernel prints each 32-bit word of the address as
/// the number it is in memory, in network byte order; the port as a
/// number): 127.0.0.1:8125.
fn hex_address(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = ip.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether a socket bound at `bound` receives datagrams sent to `to`.
fn reaches(bound: IpAddr, to: IpAddr) -> bool {
    let bound = match bound {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    bound == to
        || match bound {
            IpAddr::V4(b) => b.is_unspecified() && to.is_ipv4(),
            IpAddr::V6(b) => b.is_unspecified(),
        }
}

/// Sends an empty datagram to `to` and waits at most [`PROBE_WAIT`] for
/// `ECONNREFUSED`; none: something listens.
fn probe(to: SocketAddr) -> io::Result<bool> {
    let from: SocketAddr = match to {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::LOCALHOST, 0).into(),
    };
    let socket = UdpSocket::bind(from)?;
    socket.connect(to)?;
    socket.set_read_timeout(Some(PROBE_WAIT))?;
    if let Err(e) = socket.send(&[]) {
        return refused(e);
    }
    match socket.recv(&mut [0u8; 1]) {
        Ok(_) => Ok(true),
        Err(e) => refused(e),
    }
}

/// `ECONNREFUSED`: nothing listens; a read timing out: no ICMP came, so
/// something does.
fn refused(e: io::Error) -> io::Result<bool> {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Ok(false),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(true),
        _ => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// The kernel's own tables, against sockets bound here.
    #[test]
    fn the_kernels_tables_show_a_bound_socket_and_only_while_it_is() {
        let socket = UdpSocket::bind(loopback(0)).expect("bind");
        let port = socket.local_addr().expect("address").port();
        assert_eq!(bound_in_tables(loopback(port)), Some(true));
        assert!(listens(loopback(port)).expect("looked"));
        // A connected socket is no listener: the probe's own socket.
        let connected = UdpSocket::bind(loopback(0)).expect("bind");
        connected.connect(loopback(port)).expect("connect");
        let cport = connected.local_addr().expect("address").port();
        drop(socket);
        assert_eq!(bound_in_tables(loopback(port)), Some(false));
        assert!(!listens(loopback(port)).expect("looked"));
        assert_eq!(bound_in_tables(loopback(cport)), Some(false));
        // IPv6: bound to ::1, not reached from 127.0.0.1.
        if let Ok(v6) = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) {
            let to = v6.local_addr().expect("address");
            assert_eq!(bound_in_tables(to), Some(true));
            assert_eq!(bound_in_tables(loopback(to.port())), Some(false));
        }
    }

    #[test]
    fn table_lines_parse_as_the_kernel_writes_them() {
        let port = 8125u16;
        let local = u32::from_ne_bytes([127, 0, 0, 1]);
        let any = u32::from_ne_bytes([0, 0, 0, 0]);
        let head = "  sl  local_address rem_address   st\n";
        let line = |ip: u32, rport: u16| {
            format!("   0: {ip:08X}:{port:04X} {:08X}:{rport:04X} 07\n", 0u32)
        };
        assert!(table_has_listener(
            &(head.to_owned() + &line(local, 0)),
            loopback(port)
        ));
        assert!(table_has_listener(
            &(head.to_owned() + &line(any, 0)),
            loopback(port)
        ));
        assert!(!table_has_listener(
            &(head.to_owned() + &line(local, 9)),
            loopback(port)
        ));
        assert!(!table_has_listener(
            &(head.to_owned() + &line(local, 0)),
            loopback(8126)
        ));
        assert!(!table_has_listener(head, loopback(port)));
    }
}
