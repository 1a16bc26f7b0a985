//! One HTTP/1.1 request to the Agent, over TCP or its Unix socket, with std
//! only: the trace intake needs a `PUT` with a body and the answer's status
//! and body, nothing more. Runs on the export thread; connecting, writing
//! and reading are bounded by the export timeout (the host name's lookup,
//! by the system's resolver, is done again only when no cached address
//! connects).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where the Agent's trace intake listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AgentAddr {
    /// `http://host:port`; an IPv6 host without brackets.
    Tcp { host: String, port: u16 },
    /// The Agent's Unix socket, e.g. `/var/run/datadog/apm.socket`.
    Unix(PathBuf),
}

impl std::fmt::Display for AgentAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp { host, port } if host.contains(':') => write!(f, "http://[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "http://{host}:{port}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// The status and body of an answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// The largest answer read: the intake's is a small JSON object.
const MAX_ANSWER: usize = 1 << 20;

/// A connection to the Agent.
pub(crate) trait Stream: Read + Write {
    /// Bounds the next reads.
    fn read_timeout(&self, limit: Duration) -> std::io::Result<()>;
}

impl Stream for TcpStream {
    fn read_timeout(&self, limit: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(limit))
    }
}

impl Stream for UnixStream {
    fn read_timeout(&self, limit: Duration) -> std::io::Result<()> {
        self.set_read_timeout(Some(limit))
    }
}

/// Connects to the Agent, every step bounded by `timeout`. `resolved`
/// caches the host's addresses between batches: they are looked up again
/// only when none of them connects.
pub(crate) fn connect(
    addr: &AgentAddr,
    timeout: Duration,
    resolved: &mut Vec<SocketAddr>,
) -> std::io::Result<Box<dyn Stream>> {
    match addr {
        AgentAddr::Tcp { host, port } => {
            if let Ok(s) = connect_any(resolved, timeout) {
                return Ok(Box::new(s));
            }
            // Every address the name has, in the resolver's order: on a
            // dual-stack host `localhost` may answer `::1` first while the
            // Agent listens on 127.0.0.1 only.
            *resolved = (host.as_str(), *port).to_socket_addrs()?.collect();
            connect_any(resolved, timeout).map(|s| Box::new(s) as Box<dyn Stream>)
        }
        AgentAddr::Unix(path) => {
            let s = super::unix::connect(path, timeout)?;
            s.set_write_timeout(Some(timeout))?;
            Ok(Box::new(s))
        }
    }
}

fn connect_any(addrs: &[SocketAddr], timeout: Duration) -> std::io::Result<TcpStream> {
    let mut last = None;
    for sa in addrs {
        match TcpStream::connect_timeout(sa, timeout) {
            Ok(s) => {
                s.set_write_timeout(Some(timeout))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the host has no address")
    }))
}

/// Sends one request on a connection from [`connect`] and reads its
/// answer, all within `timeout` (the connection is closed after it).
pub(crate) fn request(
    mut stream: Box<dyn Stream>,
    addr: &AgentAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<Answer, String> {
    let deadline = Instant::now() + timeout;
    let host = match addr {
        AgentAddr::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        AgentAddr::Tcp { host, port } => format!("{host}:{port}"),
        AgentAddr::Unix(_) => "localhost".to_owned(),
    };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .and_then(|()| stream.flush())
        .map_err(|e| format!("writing to {addr}: {e}"))?;
    let raw =
        read_answer(stream.as_mut(), deadline).map_err(|e| format!("reading from {addr}: {e}"))?;
    parse_answer(&raw).ok_or_else(|| format!("{addr} did not answer with HTTP"))
}

/// Reads until the answer is complete (its `Content-Length`, its last
/// chunk, or the end of the connection), at most [`MAX_ANSWER`] bytes,
/// before `deadline`.
fn read_answer(stream: &mut dyn Stream, deadline: Instant) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if framed(&raw) {
            return Ok(raw);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || raw.len() >= MAX_ANSWER {
            return Err("no complete answer in time".to_owned());
        }
        stream.read_timeout(left).map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(raw),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A status already read counts (a 413 before a reset).
            Err(_) if parse_answer(&raw).is_some() => return Ok(raw),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Whether `raw` holds a whole answer whose end its head tells (by
/// `Content-Length` or chunks); an answer framed by the connection's end
/// is whole only at that end.
fn framed(raw: &[u8]) -> bool {
    let Some((_, rest, framing)) = head(raw) else {
        return false;
    };
    match framing {
        Framing::Length(n) => rest.len() >= n,
        Framing::Chunked => dechunk(rest).is_some(),
        Framing::ToEnd => false,
    }
}

enum Framing {
    Length(usize),
    Chunked,
    ToEnd,
}

/// The status, the bytes after the head, and how the body ends.
fn head(raw: &[u8]) -> Option<(u16, &[u8], Framing)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let mut parts = lines.next()?.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status: u16 = parts.next()?.parse().ok()?;
    let mut framing = Framing::ToEnd;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        } else if k.eq_ignore_ascii_case("content-length") && !matches!(framing, Framing::Chunked) {
            framing = Framing::Length(v.parse().ok()?);
        }
    }
    Some((status, rest, framing))
}

/// Parses a whole HTTP/1.1 answer: status line, headers, and a body by
/// `Content-Length`, chunked, or to the end.
pub(crate) fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let (status, rest, framing) = head(raw)?;
    let body = match framing {
        Framing::Chunked => dechunk(rest)?,
        Framing::Length(n) => rest.get(..n)?.to_vec(),
        Framing::ToEnd => rest.to_vec(),
    };
    Some(Answer { status, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_field = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_field.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let a =
            parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").expect("as written");
        assert_eq!((a.status, a.body.as_slice()), (200, &b"{}"[..]));
        let a = parse_answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .expect("as written");
        assert_eq!(a.body, b"abcde");
        let a = parse_answer(b"HTTP/1.0 413 Too Large\r\n\r\nno").expect("as written");
        assert_eq!((a.status, a.body.as_slice()), (413, &b"no"[..]));
        assert!(parse_answer(b"SSH-2.0\r\n\r\n").is_none());
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab").is_none());
    }

    proptest::proptest! {
        /// Any bytes: an answer or none, never a panic.
        #[test]
        fn never_panics(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_answer(&raw);
            let mut with_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            with_head.extend_from_slice(&raw);
            let _ = parse_answer(&with_head);
        }
    }

    /// An answer framed by its length is taken whole while the peer keeps
    /// the connection open (reading to the end would wait out the time
    /// limit and fail the batch).
    #[test]
    fn a_complete_answer_is_taken_without_waiting_for_the_close() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let peer = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"body") {
                let n = conn.read(&mut buf).expect("read");
                assert!(n > 0, "the request ended early");
                got.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .expect("answer");
            // Held open well past the client's limit.
            std::thread::sleep(Duration::from_secs(3));
        });
        let addr = AgentAddr::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let limit = Duration::from_secs(2);
        let stream = connect(&addr, limit, &mut Vec::new()).expect("connects");
        let answer = request(stream, &addr, "PUT", "/v0.4/traces", &[], b"body", limit)
            .expect("the whole answer, before the connection closes");
        assert_eq!((answer.status, answer.body.as_slice()), (200, &b"{}"[..]));
        peer.join().expect("peer");
    }

    #[test]
    fn addresses_display() {
        let v6 = AgentAddr::Tcp {
            host: "::1".into(),
            port: 8126,
        };
        assert_eq!(v6.to_string(), "http://[::1]:8126");
        assert_eq!(AgentAddr::Unix("/s".into()).to_string(), "unix:///s");
    }
}
