//! A minimal HTTP/1.1 server for the dev page: `GET`/`HEAD`, and `POST`
//! with a `Content-Length` body (OTLP/HTTP exports; a chunked body is
//! refused with 411); `Connection: close`, bounded request size, a few
//! connections at a time on a small pool of threads, each request read
//! within an absolute deadline (a client trickling bytes does not extend
//! it).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// Longest request body read.
const MAX_BODY: usize = 8 * 1024 * 1024;
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a refused request's remaining bytes are read (and dropped)
/// after the answer, so that closing does not reset the connection.
const LINGER: Duration = Duration::from_secs(1);

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    /// Threads answering connections.
    pub workers: usize,
    /// The whole request (head and body) must arrive within this.
    pub read_deadline: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 4,
            read_deadline: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// `Content-Type`, lower case.
    pub content_type: String,
    /// `Content-Encoding`, lower case.
    pub content_encoding: String,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    pub(crate) fn text(status: u16, body: &str) -> Self {
        Response::new(status, "text/plain; charset=utf-8", body)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        _ => "Internal Server Error",
    }
}

/// `%XX` and `+` decoding of a query-string component.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a request head (`GET /path?a=b HTTP/1.1` and headers); the body
/// is read separately.
pub(crate) fn parse_head(head: &str) -> Option<Request> {
    let mut lines = head.lines();
    let mut parts = lines.next()?.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    let mut request = Request {
        method: method.to_owned(),
        path: decode(path),
        query,
        content_type: String::new(),
        content_encoding: String::new(),
        body: Vec::new(),
    };
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim().to_ascii_lowercase();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-type" => request.content_type = value,
                "content-encoding" => request.content_encoding = value,
                _ => {}
            }
        }
    }
    Some(request)
}

/// `Content-Length`, if any (`Err` when it does not parse).
fn content_length(head: &str) -> Result<Option<usize>, ()> {
    for line in head.lines().skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                return value.trim().parse().map(Some).map_err(|_| ());
            }
        }
    }
    Ok(None)
}

/// Whether the body is sent with a `Transfer-Encoding` (chunked): its
/// length is not known up front, and `dev` does not decode it.
fn has_transfer_encoding(head: &str) -> bool {
    head.lines().skip(1).any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && !value.trim().eq_ignore_ascii_case("identity")
        })
    })
}

/// Reads into `buf` what arrives before `deadline` (an absolute deadline:
/// each read waits only for the time left).
fn read_by(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::ErrorKind::TimedOut.into());
    }
    stream.set_read_timeout(Some(left))?;
    match stream.read(buf) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::ErrorKind::TimedOut.into()),
        other => other,
    }
}

/// Reads the head, and the bytes after it already received.
fn read_head(stream: &mut TcpStream, deadline: Instant) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < MAX_HEAD {
        let n = read_by(stream, &mut chunk, deadline)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
    }
    Ok(None)
}

fn read_request(
    stream: &mut TcpStream,
    deadline: Instant,
) -> io::Result<Result<Request, Response>> {
    let bad = |why: &str| Ok(Err(Response::text(400, why)));
    let Some((head, mut body)) = read_head(stream, deadline)? else {
        return bad("bad request: no complete head\n");
    };
    let Some(mut request) = parse_head(&head) else {
        return bad("bad request line\n");
    };
    let length_required = || {
        Ok(Err(Response::text(
            411,
            "send the body with a Content-Length (chunked bodies are not read)\n",
        )))
    };
    if has_transfer_encoding(&head) {
        return length_required();
    }
    let length = match content_length(&head) {
        Ok(Some(l)) => l,
        Ok(None) if request.method == "POST" => return length_required(),
        Ok(None) => 0,
        Err(()) => return bad("bad Content-Length\n"),
    };
    if length > MAX_BODY {
        return Ok(Err(Response::text(413, "body too large\n")));
    }
    let mut chunk = [0u8; 16 * 1024];
    while body.len() < length {
        let want = (length - body.len()).min(chunk.len());
        match read_by(stream, &mut chunk[..want], deadline)? {
            0 => return bad("bad request: the body ended early\n"),
            n => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    request.body = body;
    Ok(Ok(request))
}

fn handle(
    mut stream: TcpStream,
    handler: &impl Fn(&Request) -> Response,
    config: Config,
) -> io::Result<()> {
    let deadline = Instant::now() + config.read_deadline;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let read = match read_request(&mut stream, deadline) {
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            Err(Response::text(408, "the request did not arrive in time\n"))
        }
        other => other?,
    };
    let unread = read.is_err();
    let (response, head_only) = match read {
        Err(refused) => (refused, false),
        Ok(r) if ["GET", "HEAD", "POST"].contains(&r.method.as_str()) => {
            (handler(&r), r.method == "HEAD")
        }
        Ok(_) => (Response::text(405, "only GET, HEAD and POST\n"), false),
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    );
    stream.write_all(head.as_bytes())?;
    if !head_only {
        stream.write_all(&response.body)?;
    }
    stream.flush()?;
    if unread {
        // Closing with unread bytes would reset the connection, and the
        // client could lose the answer: end the sending side, then read
        // (and drop) what still comes for a moment.
        stream.shutdown(std::net::Shutdown::Write)?;
        let until = Instant::now() + LINGER;
        let mut sink = [0u8; 4096];
        while matches!(read_by(&mut stream, &mut sink, until), Ok(n) if n > 0) {}
    }
    Ok(())
}

/// Answers connections on `listener` with `handler` on `config.workers`
/// threads until the process ends; a failing connection does not stop the
/// server. While every worker is busy, accepted connections wait in a
/// queue as long as the pool; beyond it, in the kernel's backlog.
pub(crate) fn serve(
    listener: TcpListener,
    handler: impl Fn(&Request) -> Response + Sync,
    config: Config,
) {
    let workers = config.workers.max(1);
    let (send, receive) = mpsc::sync_channel::<TcpStream>(workers);
    let receive = Arc::new(Mutex::new(receive));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let receive = Arc::clone(&receive);
            let handler = &handler;
            scope.spawn(move || loop {
                let next = receive
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv();
                match next {
                    Ok(stream) => {
                        let _ = handle(stream, handler, config);
                    }
                    Err(_) => return,
                }
            });
        }
        for stream in listener.incoming() {
            match stream {
                Ok(s) => {
                    if send.send(s).is_err() {
                        return;
                    }
                }
                // Out of file descriptors, for example: let it pass.
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        // The workers end once the queue is closed.
        drop(send);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_lines_and_query_strings() {
        let r = parse_head(
            "GET /api/dashboard?pipeline=daily%5Fetl&env=&x=a+b HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .expect("parses");
        assert_eq!(r.path, "/api/dashboard");
        assert_eq!(
            r.query.get("pipeline").map(String::as_str),
            Some("daily_etl")
        );
        assert_eq!(r.query.get("env").map(String::as_str), Some(""));
        assert_eq!(r.query.get("x").map(String::as_str), Some("a b"));
        let post = parse_head("POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 12\r\n\r\n")
            .expect("parses");
        assert_eq!(
            (post.method.as_str(), post.content_type.as_str()),
            ("POST", "application/x-protobuf")
        );
        assert_eq!(
            content_length("POST / HTTP/1.1\r\ncontent-length:  12 \r\n"),
            Ok(Some(12))
        );
        assert_eq!(
            content_length("POST / HTTP/1.1\r\nContent-Length: -1\r\n"),
            Err(())
        );
        assert_eq!(content_length("GET / HTTP/1.1\r\n"), Ok(None));
        for bad in ["", "GET", "GET /", "GET / SPDY/3", "\u{0}"] {
            assert_eq!(parse_head(bad), None, "{bad:?}");
        }
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod served;
