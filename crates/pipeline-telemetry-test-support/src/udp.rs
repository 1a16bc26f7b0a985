//! DogStatsD receivers on real sockets.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
/// The Agent asks for a large one too (`dogstatsd_so_rcvbuf`): a test's
/// reader thread starved for a moment on a loaded 2-core machine must not
/// have the kernel drop what the emitter sent, which no emitter can see.
const RECEIVE_BUFFER: i32 = 8 << 20;

/// Asks for a receive buffer of `bytes` (best effort).
fn set_receive_buffer(socket: &UdpSocket, bytes: i32) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket descriptor and a pointer to an `i32` of the
    // size passed.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

/// A DogStatsD receiver on a real UDP socket bound on loopback: the bytes it
/// returns are exactly what the emitter sent.
#[derive(Debug)]
pub struct UdpReceiver {
    socket: UdpSocket,
}

impl UdpReceiver {
    /// Binds a free port on 127.0.0.1.
    ///
    /// # Errors
    /// When the socket cannot be bound or configured.
    pub fn bind() -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        set_receive_buffer(&socket, RECEIVE_BUFFER);
        Ok(UdpReceiver { socket })
    }

    /// `udp://127.0.0.1:<port>`, for `DD_DOGSTATSD_URL`.
    pub fn url(&self) -> String {
        format!("udp://{}", self.addr())
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        self.socket
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// The port bound.
    pub fn port(&self) -> u16 {
        self.socket.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Every datagram that arrives until none has arrived for `quiet` and
    /// a read finds nothing more. Once the sender is done (an exporter
    /// dropped, a process ended) this is everything it sent, whatever
    /// `quiet`; while it still sends, `quiet` is a guess.
    pub fn drain(&self, quiet: Duration) -> Vec<Vec<u8>> {
        drain_with(quiet, |buf| self.socket.recv(buf).ok())
    }

    /// The lines of [`drain`](Self::drain)'s datagrams, in order.
    pub fn drain_lines(&self, quiet: Duration) -> Vec<String> {
        self.drain(quiet)
            .iter()
            .flat_map(|d| {
                String::from_utf8_lossy(d)
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every line received until `done` accepts what arrived so far (checked
    /// after each datagram) or `limit` passes; returns the lines either way.
    pub fn lines_until(&self, limit: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        lines_until_with(limit, done, |buf| self.socket.recv(buf).ok())
    }
}

/// A DogStatsD receiver on a Unix datagram socket in a fresh temp dir.
#[derive(Debug)]
pub struct UnixDatagramReceiver {
    socket: UnixDatagram,
    path: PathBuf,
}

impl UnixDatagramReceiver {
    /// Binds `dsd-<pid>-<n>.socket` in the system temp dir.
    ///
    /// # Errors
    /// When the socket cannot be bound or configured.
    pub fn bind() -> std::io::Result<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "pt-dsd-{}-{}.socket",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path)?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        Ok(UnixDatagramReceiver { socket, path })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `unixgram://<path>`, for `DD_DOGSTATSD_URL`.
    pub fn url(&self) -> String {
        format!("unixgram://{}", self.path.display())
    }

    /// Every datagram that arrives until none has arrived for `quiet` and
    /// a read finds nothing more. Once the sender is done (an exporter
    /// dropped, a process ended) this is everything it sent, whatever
    /// `quiet`; while it still sends, `quiet` is a guess.
    pub fn drain(&self, quiet: Duration) -> Vec<Vec<u8>> {
        drain_with(quiet, |buf| self.socket.recv(buf).ok())
    }

    /// Every line received until `done` accepts what arrived so far or
    /// `limit` passes.
    pub fn lines_until(&self, limit: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        lines_until_with(limit, done, |buf| self.socket.recv(buf).ok())
    }
}

impl Drop for UnixDatagramReceiver {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn drain_with(quiet: Duration, mut recv: impl FnMut(&mut [u8]) -> Option<usize>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut last = Instant::now();
    loop {
        match recv(&mut buf) {
            Some(n) => {
                out.push(buf[..n].to_vec());
                last = Instant::now();
            }
            // Ends only on a read that found nothing: a reader thread stalled
            // past `quiet` by a loaded machine still reads what is buffered.
            None if last.elapsed() >= quiet => return out,
            None => {}
        }
    }
}

fn lines_until_with(
    limit: Duration,
    done: impl Fn(&[String]) -> bool,
    mut recv: impl FnMut(&mut [u8]) -> Option<usize>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(n) = recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            lines.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_owned));
            if done(&lines) {
                break;
            }
        }
    }
    lines
}
