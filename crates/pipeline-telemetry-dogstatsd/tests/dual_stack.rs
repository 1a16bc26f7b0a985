//! `localhost` reaches an Agent listening on 127.0.0.1 only, on a host whose
//! `/etc/hosts` lists `::1 localhost` first (Debian and Ubuntu images, most
//! containers): the Agent (Go, `bind_host: localhost`) listens where Go's
//! resolver puts `localhost`, on IPv4, so the exporter must pick IPv4 too.
//!
//! The resolution is the system's own (`getaddrinfo`), made dual-stack for
//! real: the test re-runs itself in a private mount namespace (a user
//! namespace, or as root) with a hosts file of its own bind-mounted over
//! `/etc/hosts`, checks there that `localhost` resolves to `::1` first and
//! to `127.0.0.1` too, and sends over real UDP to a receiver bound on
//! 127.0.0.1 only, first and after resolving again.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use pipeline_telemetry_dogstatsd::{CounterHandle, DogStatsDBuilder, Target};
use pipeline_telemetry_test_support::UdpReceiver;

mod namespace;

/// Set in the re-run inside the namespace.
const CHILD: &str = "PT_DUAL_STACK_CHILD";
const TEST: &str = "localhost_reaches_an_agent_on_ipv4_when_hosts_lists_ipv6_first";

#[test]
fn localhost_reaches_an_agent_on_ipv4_when_hosts_lists_ipv6_first() {
    if std::env::var_os(CHILD).is_some() {
        in_namespace();
        return;
    }
    let hosts = std::env::temp_dir().join(format!("pt-dual-stack-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "::1 localhost\n127.0.0.1 localhost\n").expect("write hosts file");
    let out = namespace::run_with_bind_mount(&hosts, "/etc/hosts", TEST, (CHILD, "1"));
    let _ = std::fs::remove_file(&hosts);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the run in a private mount namespace failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "the test did not run inside the namespace:\n{stdout}"
    );
}

fn in_namespace() {
    // The outside truth: the system resolver gives both families, ::1 first.
    let resolved: Vec<SocketAddr> = ("localhost", 8125)
        .to_socket_addrs()
        .expect("localhost resolves")
        .collect();
    assert!(
        resolved.first().is_some_and(SocketAddr::is_ipv6)
            && resolved.iter().any(SocketAddr::is_ipv4),
        "the private /etc/hosts did not make localhost dual-stack with ::1 first: {resolved:?}"
    );

    let rx = UdpReceiver::bind().expect("bind 127.0.0.1"); // IPv4 only
    let guard = DogStatsDBuilder::new(Target::Udp(format!("localhost:{}", rx.port())))
        .with_origin_detection(false)
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(3600))
        .with_resolve_interval(Duration::from_millis(1))
        .start()
        .expect("start");
    let c = CounterHandle::register("dual_stack.sent", &[]);
    // Each round resolves `localhost` again (the interval is 1 ms).
    let mut received = 0u64;
    for round in 1..=3u64 {
        std::thread::sleep(Duration::from_millis(2));
        c.increment(round);
        guard.flush();
        let want = format!("dual_stack.sent:{round}|c");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            let lines = rx.lines_until(Duration::from_millis(500), |l| l.contains(&want));
            seen = lines.contains(&want);
        }
        assert!(
            seen,
            "round {round}: nothing arrived on 127.0.0.1:{}",
            rx.port()
        );
        received += round;
    }
    let stats = guard.stats();
    assert_eq!(stats.packets_dropped, 0, "{stats:?}");
    assert_eq!(received, 6);
    drop(guard);
}
