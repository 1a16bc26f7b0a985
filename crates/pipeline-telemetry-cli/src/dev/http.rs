//! A minimal HTTP/1.1 server for the dev page: `GET`/`HEAD` only, one
//! connection at a time, `Connection: close`, bounded request size and
//! read time.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Longest request head read.
const MAX_HEAD: usize = 16 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
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

/// Parses a request head (`GET /path?a=b HTTP/1.1` and headers).
pub(crate) fn parse_head(head: &str) -> Option<Request> {
    let mut parts = head.lines().next()?.split(' ');
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
    Some(Request {
        method: method.to_owned(),
        path: decode(path),
        query,
    })
}

fn read_head(stream: &mut TcpStream) -> io::Result<Option<String>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while buf.len() < MAX_HEAD {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
    }
    Ok(None)
}

fn handle(mut stream: TcpStream, handler: &impl Fn(&Request) -> Response) -> io::Result<()> {
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let request = read_head(&mut stream)?.as_deref().and_then(parse_head);
    let (response, head_only) = match &request {
        None => (Response::text(400, "bad request\n"), false),
        Some(r) if r.method == "GET" || r.method == "HEAD" => (handler(r), r.method == "HEAD"),
        Some(_) => (Response::text(405, "only GET and HEAD\n"), false),
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
    stream.flush()
}

/// Answers connections on `listener` with `handler`, one at a time, until
/// the process ends; a failing connection does not stop the server.
pub(crate) fn serve(listener: TcpListener, handler: impl Fn(&Request) -> Response) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                let _ = handle(s, &handler);
            }
            // Out of file descriptors, for example: let it pass.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
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
        for bad in ["", "GET", "GET /", "GET / SPDY/3", "\u{0}"] {
            assert_eq!(parse_head(bad), None, "{bad:?}");
        }
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }
}
