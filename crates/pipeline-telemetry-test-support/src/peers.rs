//! Reachability of the local service peers (RabbitMQ, PostgreSQL, ...).
//!
//! A test that needs a peer calls [`require_tcp`] first: when the peer is
//! down the test fails with the command that starts it. It never skips.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Fails the calling test unless something accepts TCP connections on
/// `addr` (e.g. `"127.0.0.1:5672"`), naming `what` and how to start it.
///
/// # Panics
/// When `addr` is not a socket address or nothing listens there.
pub fn require_tcp(addr: &str, what: &str) {
    let parsed: SocketAddr = addr
        .parse()
        .unwrap_or_else(|e| panic!("{addr} is not a socket address: {e}"));
    if TcpStream::connect_timeout(&parsed, Duration::from_secs(2)).is_err() {
        panic!(
            "{what} is not reachable on {addr}: this test needs the real peer. \
             Run scripts/ensure-services.sh (or scripts/test-all.sh), which starts it"
        );
    }
}

/// The RabbitMQ of the tests: `AMQP_URL`, else the local broker.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The PostgreSQL of the tests: `DATABASE_URL`, else the local `test` database.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}
