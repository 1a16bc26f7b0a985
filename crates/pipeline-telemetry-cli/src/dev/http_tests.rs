//! The server over real sockets: a slow client, a deadline, a chunked body.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// A watchdog only: a correct server answers long before.
const WATCHDOG: Duration = Duration::from_secs(30);

/// Starts a server answering `ok` (and counting the requests it handles).
fn start(config: Config) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("has an address");
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    std::thread::spawn(move || {
        serve(
            listener,
            move |r: &Request| {
                count.fetch_add(1, Ordering::SeqCst);
                Response::text(200, &format!("ok {} bytes\n", r.body.len()))
            },
            config,
        )
    });
    (addr, handled)
}

/// Sends `request` and reads the whole answer (the server closes).
fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(WATCHDOG)).expect("sets a timeout");
    s.write_all(request).expect("sends");
    let mut answer = String::new();
    s.read_to_string(&mut answer)
        .expect("answered before the watchdog");
    answer
}

/// Connects and sends a request head one byte at a time, never ending it,
/// until `stop` (or the server closes the connection).
fn slow_loris(addr: SocketAddr, stop: Arc<AtomicBool>) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.write_all(b"GET / HTTP/1.1\r\n").expect("sends");
    let mut writer = s.try_clone().expect("clones");
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if writer.write_all(b"x").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    s
}

#[test]
fn a_slow_client_does_not_hold_back_the_others() {
    let (addr, _) = start(Config {
        workers: 4,
        read_deadline: Duration::from_secs(120),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let _loris = slow_loris(addr, Arc::clone(&stop));
    let answer = exchange(addr, b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
    stop.store(true, Ordering::SeqCst);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
}

#[test]
fn a_trickling_client_is_cut_at_the_deadline() {
    let (addr, handled) = start(Config {
        workers: 1,
        read_deadline: Duration::from_secs(1),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut loris = slow_loris(addr, Arc::clone(&stop));
    loris
        .set_read_timeout(Some(WATCHDOG))
        .expect("sets a timeout");
    let mut answer = Vec::new();
    // A reset after the answer (the trickle goes on) may end the read.
    let _ = loris.read_to_end(&mut answer);
    stop.store(true, Ordering::SeqCst);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer:?}");
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    // The one worker is free again.
    let next = exchange(addr, b"GET / HTTP/1.1\r\n\r\n");
    assert!(next.starts_with("HTTP/1.1 200 OK\r\n"), "{next}");
}

#[test]
fn a_chunked_body_is_refused_not_read_as_empty() {
    let (addr, handled) = start(Config::default());
    let answer = exchange(
        addr,
        b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\n\
          Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert!(
        answer.starts_with("HTTP/1.1 411 Length Required\r\n"),
        "{answer}"
    );
    let no_length = exchange(
        addr,
        b"POST /v1/traces HTTP/1.1\r\nContent-Type: application/x-protobuf\r\n\r\n",
    );
    assert!(no_length.starts_with("HTTP/1.1 411 "), "{no_length}");
    assert_eq!(
        handled.load(Ordering::SeqCst),
        0,
        "no request reached the handler"
    );
    let sized = exchange(
        addr,
        b"POST /v1/traces HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(sized.ends_with("ok 5 bytes\n"), "{sized}");
}
