//! With no address configured, metrics go where a Datadog client finds the
//! Agent: its default socket when that exists, else an Agent listening on
//! localhost, else nothing is found (the facade then prints to stderr).
//! Real sockets stand in for the Agent; only loopback is probed. The
//! default path itself (`/var/run/datadog/dsd.socket`) is tested in a
//! private mount namespace (a user namespace, or as root) with a temp dir
//! over `/var/run`.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use pipeline_telemetry_dogstatsd::{
    CounterHandle, Discovery, DogStatsDBuilder, Target, DEFAULT_SOCKET,
};
use pipeline_telemetry_test_support::{UdpReceiver, UnixDatagramReceiver};

mod namespace;

const CHILD: &str = "PT_DISCOVER_CHILD";
const NS_TEST: &str = "the_default_socket_is_found_where_the_agent_puts_it";

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let a = s.local_addr().expect("address");
    drop(s);
    a
}

fn sends_to(target: Target, name: &str, lines: impl Fn(&str) -> Vec<String>) {
    let guard = DogStatsDBuilder::new(target)
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .start()
        .expect("start");
    CounterHandle::register(name, &[]).increment(1);
    drop(guard);
    let got = lines(name);
    assert_eq!(got, [format!("{name}:1|c")]);
}

#[test]
fn finds_the_socket_then_a_local_agent_then_nothing() {
    if std::env::var_os(CHILD).is_some() {
        return; // the namespace run is for the other test only
    }
    let none = Path::new("/nonexistent/pt-discover/dsd.socket");

    // A socket at the path wins over a local Agent.
    let uds = UnixDatagramReceiver::bind().expect("bind socket");
    let udp = UdpReceiver::bind().expect("bind udp");
    let local: SocketAddr = udp.addr().parse().expect("address");
    let found = Target::discover_with(uds.path(), local);
    assert!(
        matches!(&found, Discovery::Socket(p) if p == uds.path()),
        "{found:?}"
    );
    sends_to(found.target().expect("a target"), "discover.socket", |n| {
        lines_of(&uds.drain(Duration::from_millis(300)), n)
    });

    // No socket: the receiver listening on loopback is found, and reached.
    let found = Target::discover_with(none, local);
    assert!(
        matches!(found, Discovery::Local(a) if a == local),
        "{found:?}"
    );
    sends_to(found.target().expect("a target"), "discover.local", |n| {
        lines_of(&udp.drain(Duration::from_millis(300)), n)
    });

    // Nothing listens on the port: nothing is found (the caller falls back).
    let closed = closed_port();
    let found = Target::discover_with(none, closed);
    assert!(
        matches!(&found, Discovery::Nothing { local, .. } if *local == closed),
        "{found:?}"
    );
    assert!(found.target().is_none());
    assert!(found.describe().contains(&closed.to_string()));

    // A non-loopback address is never probed.
    let far: SocketAddr = "192.0.2.1:8125".parse().expect("address");
    assert!(Target::discover_with(none, far).target().is_none());
}

fn lines_of(datagrams: &[Vec<u8>], name: &str) -> Vec<String> {
    datagrams
        .iter()
        .flat_map(|d| {
            String::from_utf8_lossy(d)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with(name))
        .collect()
}

#[test]
fn the_default_socket_is_found_where_the_agent_puts_it() {
    if std::env::var_os(CHILD).is_some() {
        in_namespace();
        return;
    }
    let run = std::env::temp_dir().join(format!("pt-discover-run-{}", std::process::id()));
    std::fs::create_dir_all(&run).expect("temp dir");
    let out = namespace::run_with_bind_mount(&run, "/var/run", NS_TEST, (CHILD, "1"));
    let _ = std::fs::remove_dir_all(&run);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "the run in a private mount namespace failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

fn in_namespace() {
    let path = Path::new(DEFAULT_SOCKET);
    let dir = path.parent().expect("a directory");
    std::fs::create_dir_all(dir).expect("create the Agent's socket directory");
    let _ = std::fs::remove_file(path);
    let agent = UnixDatagram::bind(path).expect("bind the Agent's default socket");
    agent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let found = Target::discover();
    assert!(
        matches!(&found, Discovery::Socket(p) if p == path),
        "{found:?}"
    );
    assert!(matches!(Target::default_agent(), Target::UnixDatagram(p) if p == path));
    let guard = DogStatsDBuilder::new(found.target().expect("a target"))
        .with_origin_detection(false)
        .with_telemetry(false)
        .start()
        .expect("start");
    CounterHandle::register("discover.default_socket", &[]).increment(1);
    drop(guard);
    let mut buf = [0u8; 8192];
    let n = agent
        .recv(&mut buf)
        .expect("a datagram on the default socket");
    let got = String::from_utf8_lossy(&buf[..n]);
    assert!(got.contains("discover.default_socket:1|c"), "{got}");
}
