//! Shared helpers for the workspace's examples, cross-crate tests and benches.
#![deny(missing_docs)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// A DogStatsD receiver on a real UDP socket bound on loopback: the bytes it
/// returns are exactly what the emitter sent.
#[derive(Debug)]
pub struct UdpReceiver {
    socket: UdpSocket,
}

impl UdpReceiver {
    /// Binds a free port on 127.0.0.1.
    pub fn bind() -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
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

    /// Every datagram that arrives until none has arrived for `quiet`.
    pub fn drain(&self, quiet: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65_536];
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    out.push(buf[..n].to_vec());
                    last = Instant::now();
                }
                Err(_) => continue,
            }
        }
        out
    }
}
