//! Where a Datadog client sends metrics when no address is configured: the
//! Agent's default socket when it exists, else an Agent found listening on
//! localhost. Only loopback is ever probed.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline_telemetry_catalogue::env::DD_DOGSTATSD_PORT;

use crate::target::{Target, DEFAULT_PORT};

/// The Agent's default DogStatsD socket, used when it exists and no address
/// is configured (as Datadog's Go tracer, dd-trace-go, does: `os.Stat` of
/// this path succeeds).
pub const DEFAULT_SOCKET: &str = "/var/run/datadog/dsd.socket";

/// How long [`Target::discover`] waits for the ICMP "port unreachable"
/// that says nothing listens on localhost (on loopback it comes at once).
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
    /// Finding an Agent on localhost sends one empty datagram to
    /// `127.0.0.1:port` from a connected UDP socket (the Agent ignores empty
    /// datagrams) and waits at most [`PROBE_WAIT`] for the ICMP "port
    /// unreachable" that the kernel turns into `ECONNREFUSED` when nothing
    /// listens. Nothing is sent anywhere but loopback, nothing is bound that
    /// an Agent starting meanwhile would need, and no answer is expected.
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

/// Whether something listens on the loopback UDP address `to`.
fn listens(to: SocketAddr) -> io::Result<bool> {
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
