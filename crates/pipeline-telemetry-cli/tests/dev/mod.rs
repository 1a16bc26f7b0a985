//! Helpers of the `dev` tests: the server as a child process, a recording
//! UDP relay, a one-shot HTTP GET, and the README's example.
// Shared by dev_server.rs and dev_browser.rs, each using a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A generous watchdog, never a timing assertion.
pub(crate) const WATCHDOG: Duration = Duration::from_secs(120);

/// `pipeline-telemetry-cli dev` on free loopback ports; killed on drop.
pub(crate) struct Dev {
    child: Child,
    pub(crate) dogstatsd_port: u16,
    pub(crate) http: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_after(line: &str, prefix: &str) -> Option<String> {
    line.split_once(prefix)
        .map(|(_, rest)| rest.split(['/', ' ']).next().unwrap_or_default().to_owned())
}

impl Dev {
    /// Starts it on free loopback ports and reads the addresses it bound
    /// from its first lines.
    pub(crate) fn start() -> Dev {
        Dev::start_on("127.0.0.1:0")
    }

    /// Starts it with DogStatsD on `dogstatsd` (`host:port` or
    /// `unix:///path`; `dogstatsd_port` is 0 for a Unix socket).
    pub(crate) fn start_on(dogstatsd: &str) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipeline-telemetry-cli"))
            .args(["dev", "--dogstatsd", dogstatsd, "--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dev starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let (mut receiver, mut http) = (None, None);
        while receiver.is_none() || http.is_none() {
            let line = rx.recv_timeout(WATCHDOG).expect("dev prints its addresses");
            receiver =
                receiver.or_else(|| line.split_once("DogStatsD on ").map(|(_, a)| a.to_owned()));
            http = http.or_else(|| port_after(&line, "dashboard on http://"));
        }
        let receiver = receiver.unwrap_or_default();
        Dev {
            child,
            dogstatsd_port: port_after(&receiver, "udp://127.0.0.1:")
                .map_or(0, |p| p.parse().expect("a UDP port")),
            http: http.expect("an HTTP address"),
        }
    }

    /// `GET path`: status and body.
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.http).expect("connects to dev");
        s.set_read_timeout(Some(WATCHDOG)).expect("timeout");
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.http
        )
        .expect("request");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("response");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, body.to_owned())
    }

    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// Waits until dev has read `datagrams` datagrams.
    pub(crate) fn wait_for_datagrams(&self, datagrams: u64) {
        let start = Instant::now();
        loop {
            let read = self.json("/api/status")["datagrams"].as_u64().unwrap_or(0);
            if read >= datagrams {
                return;
            }
            assert!(
                start.elapsed() < WATCHDOG,
                "dev read {read} of {datagrams} datagrams"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Relays every datagram to dev and keeps a copy: what was sent.
pub(crate) struct Relay {
    pub(crate) port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    pub(crate) fn to(dev_port: u16) -> Relay {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("relay binds");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let port = socket.local_addr().expect("address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        socket
                            .send_to(&buf[..n], ("127.0.0.1", dev_port))
                            .expect("relays");
                        seen2.lock().expect("lock").push(buf[..n].to_vec());
                    }
                    // Asked to stop and nothing is queued any more: a
                    // loopback datagram is in this socket's queue as soon
                    // as its sender's send returned, so once the sender
                    // has exited an empty queue means everything was read.
                    Err(_) if stop2.load(Ordering::Relaxed) => break,
                    Err(_) => {}
                }
            }
        });
        Relay {
            port,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Stops relaying once what is queued is relayed (call it after every
    /// sender has exited), and returns the datagrams relayed.
    pub(crate) fn finish(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("relay thread");
        }
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The README's example, as `cargo test --workspace` built it (else built
/// now into the same target directory).
pub(crate) fn build_example() -> PathBuf {
    pipeline_telemetry_test_support::example::exe("etl_pipeline")
}

/// Runs the example as the README says (`DD_AGENT_HOST=127.0.0.1`), its
/// DogStatsD to `port` and its spans and log records over OTLP/HTTP to
/// `otlp` (an `http://host:port` endpoint), and returns its standard output
/// and standard error (its human-readable log lines).
pub(crate) fn run_example(port: u16, otlp: &str) -> (String, String) {
    let exe = build_example();
    let child = Command::new(exe)
        .env("DD_AGENT_HOST", "127.0.0.1")
        .env("DD_DOGSTATSD_PORT", port.to_string())
        .env_remove("DD_DOGSTATSD_URL")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        .env("PIPELINE_TELEMETRY_OTLP_LOGS", "1")
        .env_remove("PIPELINE_TELEMETRY_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx
        .recv_timeout(WATCHDOG)
        .expect("the example ends")
        .expect("output");
    assert!(
        out.status.success(),
        "the example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One DogStatsD metric line as read here, independently of the crates
/// under test: `name:v1[:v2]|type[|@rate][|#tags]...`.
#[derive(Debug)]
pub(crate) struct Line {
    pub(crate) name: String,
    pub(crate) values: usize,
    pub(crate) sum: f64,
    pub(crate) kind: String,
    pub(crate) rate: f64,
    pub(crate) tags: Vec<String>,
}

pub(crate) fn lines(datagrams: &[Vec<u8>]) -> Vec<Line> {
    let mut out = Vec::new();
    for d in datagrams {
        for raw in String::from_utf8_lossy(d).lines().filter(|l| !l.is_empty()) {
            let mut fields = raw.split('|');
            let (name, values) = fields
                .next()
                .and_then(|h| h.split_once(':'))
                .expect("name:value");
            let kind = fields.next().expect("type").to_owned();
            let values: Vec<f64> = values
                .split(':')
                .map(|v| v.parse().expect("a number"))
                .collect();
            let mut line = Line {
                name: name.to_owned(),
                values: values.len(),
                sum: values.iter().sum(),
                kind,
                rate: 1.0,
                tags: Vec::new(),
            };
            for f in fields {
                if let Some(r) = f.strip_prefix('@') {
                    line.rate = r.parse().expect("a rate");
                } else if let Some(t) = f.strip_prefix('#') {
                    line.tags = t.split(',').map(str::to_owned).collect();
                }
            }
            out.push(line);
        }
    }
    out
}

/// Runs the example against a fresh `dev` through the relay; returns the
/// server (holding what it received), the datagrams sent, and the
/// example's standard output (its log lines, then its last words).
pub(crate) fn example_against_dev() -> (Dev, Vec<Vec<u8>>, String) {
    let server = Dev::start();
    let relay = Relay::to(server.dogstatsd_port);
    let (stdout, _) = run_example(relay.port, &format!("http://{}", server.http));
    assert!(
        stdout.contains("metrics sent to the Datadog Agent"),
        "{stdout}"
    );
    // The example flushed everything before it exited; the relay forwards
    // what is still queued in its socket, then stops.
    let sent = relay.finish();
    assert!(!sent.is_empty(), "the example sent nothing");
    server.wait_for_datagrams(sent.len() as u64);
    (server, sent, stdout)
}
