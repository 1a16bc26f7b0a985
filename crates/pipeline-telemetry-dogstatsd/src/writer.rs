//! Transports: where finished datagrams go. Every `send` is non-blocking;
//! a datagram that cannot be sent right now is dropped and counted by the
//! flusher, never retried in a loop.

use std::fmt;
use std::io::{self, Write};
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::parse::{self, ParsedMetric};

/// Sends one datagram.
pub(crate) trait Transport: Send + fmt::Debug {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// The value of the `client_transport` telemetry tag.
    fn name(&self) -> &'static str;
}

#[derive(Debug)]
pub(crate) struct Udp(pub(crate) UdpSocket);

impl Udp {
    pub(crate) fn connect(addr: &str) -> io::Result<Self> {
        let target = std::net::ToSocketAddrs::to_socket_addrs(addr)?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let bind: std::net::SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        Ok(Udp(socket))
    }
}

impl Transport for Udp {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.0.send(datagram).map(drop)
    }
    fn name(&self) -> &'static str {
        "udp"
    }
}

/// How often a lost Unix socket is reconnected at most.
const RECONNECT_EVERY: Duration = Duration::from_millis(500);

/// Rate-limits reconnection attempts, so that an absent Agent costs one
/// failed `connect` per interval, not one per datagram.
#[derive(Debug, Default)]
struct Backoff(Option<Instant>);

impl Backoff {
    fn may_try(&mut self) -> bool {
        let now = Instant::now();
        match self.0 {
            Some(t) if now.duration_since(t) < RECONNECT_EVERY => false,
            _ => {
                self.0 = Some(now);
                true
            }
        }
    }
}

fn not_connected() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "waiting to reconnect to the Agent",
    )
}

/// A Unix datagram socket; reconnects lazily when the Agent restarts.
#[derive(Debug)]
pub(crate) struct Unixgram {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    backoff: Backoff,
}

impl Unixgram {
    pub(crate) fn new(path: PathBuf) -> Self {
        let mut u = Unixgram {
            path,
            socket: None,
            backoff: Backoff::default(),
        };
        // Not fatal: the Agent may come up later.
        let _ = u.reconnect();
        u
    }

    fn reconnect(&mut self) -> io::Result<&UnixDatagram> {
        if !self.backoff.may_try() {
            return Err(not_connected());
        }
        let s = UnixDatagram::unbound()?;
        s.connect(&self.path)?;
        s.set_nonblocking(true)?;
        Ok(self.socket.insert(s))
    }
}

impl Transport for Unixgram {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let socket = match &self.socket {
            Some(s) => s,
            None => self.reconnect()?,
        };
        match socket.send(datagram) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
            Err(e) => {
                // Connection refused / not found: drop the socket, retry on the next send.
                self.socket = None;
                Err(e)
            }
        }
    }
    fn name(&self) -> &'static str {
        "uds"
    }
}

/// A Unix stream socket: each datagram is framed by its length (u32,
/// little-endian). Writes time out rather than block the flusher for
/// long; a failed or partial write drops the connection (a new one starts
/// with clean framing).
#[derive(Debug)]
pub(crate) struct UnixStreamTransport {
    path: PathBuf,
    stream: Option<UnixStream>,
    backoff: Backoff,
    frame: Vec<u8>,
}

/// The longest a write to a Unix stream may block the flusher.
const STREAM_WRITE_TIMEOUT: Duration = Duration::from_millis(100);

impl UnixStreamTransport {
    pub(crate) fn new(path: PathBuf) -> Self {
        let mut u = UnixStreamTransport {
            path,
            stream: None,
            backoff: Backoff::default(),
            frame: Vec::new(),
        };
        let _ = u.reconnect();
        u
    }

    fn reconnect(&mut self) -> io::Result<()> {
        if !self.backoff.may_try() {
            return Err(not_connected());
        }
        let s = UnixStream::connect(&self.path)?;
        s.set_write_timeout(Some(STREAM_WRITE_TIMEOUT))?;
        self.stream = Some(s);
        Ok(())
    }
}

impl Transport for UnixStreamTransport {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        if self.stream.is_none() {
            self.reconnect()?;
        }
        let len = u32::try_from(datagram.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload too large"))?;
        self.frame.clear();
        self.frame.extend_from_slice(&len.to_le_bytes());
        self.frame.extend_from_slice(datagram);
        let Some(stream) = self.stream.as_mut() else {
            return Err(not_connected());
        };
        match stream.write_all(&self.frame) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }
    fn name(&self) -> &'static str {
        "uds-stream"
    }
}

/// Prints each metric line, one per line, to standard output.
#[derive(Debug)]
pub(crate) struct Console;

impl Transport for Console {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(datagram)?;
        out.write_all(b"\n")
    }
    fn name(&self) -> &'static str {
        "console"
    }
}

/// An in-memory sink that keeps every datagram: the test double of a
/// DogStatsD server.
///
/// ```
/// use pipeline_telemetry_dogstatsd::MemorySink;
/// let sink = MemorySink::new();
/// assert!(sink.datagrams().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<Vec<u8>>>>);

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every datagram received, in order.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every metric line received, in order.
    pub fn lines(&self) -> Vec<String> {
        self.datagrams()
            .iter()
            .flat_map(|d| {
                String::from_utf8_lossy(d)
                    .split('\n')
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every metric line, parsed (events and service checks are left
    /// out; see [`MemorySink::events_and_checks`]). Lines that do not parse
    /// are returned as errors so that a test sees them.
    pub fn metrics(&self) -> Result<Vec<ParsedMetric>, parse::ParseError> {
        self.lines()
            .iter()
            .filter(|l| !is_event_or_check(l))
            .map(|l| parse::parse_line(l))
            .collect()
    }

    /// The event (`_e{..}`) and service check (`_sc|..`) lines received.
    pub fn events_and_checks(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| is_event_or_check(l))
            .collect()
    }

    /// Forgets everything received.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

fn is_event_or_check(line: &str) -> bool {
    line.starts_with("_e{") || line.starts_with("_sc|")
}

impl Transport for MemorySink {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(datagram.to_vec());
        Ok(())
    }
    fn name(&self) -> &'static str {
        "memory"
    }
}
