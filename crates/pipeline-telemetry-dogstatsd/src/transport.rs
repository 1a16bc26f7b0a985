//! Transports: where finished datagrams go. A send never blocks for
//! long: on a full socket it waits at most [`WRITE_TIMEOUT`] (as
//! datadog-go's writers do), then the datagram is dropped and counted by
//! the flusher, never retried in a loop.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(crate) use crate::console::Console;
pub use crate::memory::MemorySink;
pub(crate) use crate::udp::Udp;

/// Sends one datagram.
pub(crate) trait Transport: Send + fmt::Debug {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;
    /// The value of the `client_transport` telemetry tag.
    fn name(&self) -> &'static str;
    /// Called at the start of every flush.
    fn begin_flush(&mut self) {}
    /// Whether no address is known to send to without resolving a name
    /// first (a DNS query: slow, unbounded). Such sends are left to the
    /// flusher thread; a caller's thread sends only with the address known.
    fn needs_resolve(&self) -> bool {
        false
    }
    /// Whether the address is due to be resolved again (on schedule, or
    /// after a send error): the flusher thread does it ([`refresh`](Self::refresh)).
    fn resolve_due(&self) -> bool {
        false
    }
    /// Resolves the address again if that is due (on the flusher thread).
    fn refresh(&mut self) {}
    /// [`send`](Self::send) without resolving a name first: to the address
    /// already known (an error when there is none).
    fn send_cached(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.send(datagram)
    }
}

/// The longest one send waits for room in a full socket buffer (the
/// default write timeout of datadog-go's writers).
pub const WRITE_TIMEOUT: Duration = Duration::from_millis(100);

/// A datagram socket that [`Pacing`] can switch between bounded waits and
/// not waiting.
pub(crate) trait DatagramSocket {
    fn send(&self, datagram: &[u8]) -> io::Result<usize>;
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()>;
}

impl DatagramSocket for UnixDatagram {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        UnixDatagram::send(self, datagram)
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        UnixDatagram::set_nonblocking(self, nonblocking)
    }
}

impl DatagramSocket for std::net::UdpSocket {
    fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        std::net::UdpSocket::send(self, datagram)
    }
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        std::net::UdpSocket::set_nonblocking(self, nonblocking)
    }
}

/// Bounded waits on a full socket (`EAGAIN`, e.g. a Unix socket whose
/// queue of `net.unix.max_dgram_qlen` datagrams is full while the Agent
/// catches up): sends block for at most [`WRITE_TIMEOUT`] each, so a
/// reading Agent gets every datagram. Once a wait times out, the rest of
/// that flush does not wait, so an Agent that is not reading at all costs
/// one timeout per flush, not one per datagram.
#[derive(Debug, Default)]
pub(crate) struct Pacing {
    gave_up: bool,
}

impl Pacing {
    /// Sends with a bounded wait; the socket must be in blocking mode with
    /// a write timeout when it is created.
    pub(crate) fn send(&mut self, socket: &impl DatagramSocket, datagram: &[u8]) -> io::Result<()> {
        match socket.send(datagram) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !self.gave_up => {
                self.gave_up = true;
                let _ = socket.set_nonblocking(true);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits again (bounded) from the next send on.
    pub(crate) fn reset(&mut self, socket: Option<&impl DatagramSocket>) {
        if std::mem::take(&mut self.gave_up) {
            if let Some(s) = socket {
                let _ = s.set_nonblocking(false);
            }
        }
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

pub(crate) fn not_connected() -> io::Error {
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
    pacing: Pacing,
}

impl Unixgram {
    pub(crate) fn new(path: PathBuf) -> Self {
        let mut u = Unixgram {
            path,
            socket: None,
            backoff: Backoff::default(),
            pacing: Pacing::default(),
        };
        // Not fatal: the Agent may come up later.
        let _ = u.reconnect();
        u
    }

    fn reconnect(&mut self) -> io::Result<()> {
        if !self.backoff.may_try() {
            return Err(not_connected());
        }
        let s = UnixDatagram::unbound()?;
        s.connect(&self.path)?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))?;
        self.pacing = Pacing::default();
        self.socket = Some(s);
        Ok(())
    }
}

impl Transport for Unixgram {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        if self.socket.is_none() {
            self.reconnect()?;
        }
        let Some(socket) = &self.socket else {
            return Err(not_connected());
        };
        match self.pacing.send(socket, datagram) {
            Ok(()) => Ok(()),
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
    fn begin_flush(&mut self) {
        self.pacing.reset(self.socket.as_ref());
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
