//! `scripts/start-test-agent.sh` never takes the Datadog Agent's own ports,
//! shares one agent between callers started together, and stops only the
//! agent it is asked to. Runs the real script with its own state directory
//! (needs the test peers' `.venv`, which `scripts/setup-peers.sh` installs).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn script(dir: &Path, args: &[&str]) -> (bool, HashMap<String, String>, String) {
    let out = Command::new(repo_root().join("scripts/start-test-agent.sh"))
        .args(args)
        .env("PT_TEST_AGENT_DIR", dir)
        .output()
        .expect("the script runs");
    let vars = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    (
        out.status.success(),
        vars,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn alive(pid: &str) -> bool {
    Path::new("/proc").join(pid).exists()
}

fn gone_within(pid: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Stops whatever the test's state directory still names.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = script(&self.0, &["--stop"]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn port(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

#[test]
fn the_test_agent_avoids_the_agents_ports_is_shared_and_stops_only_when_asked() {
    let dir = std::env::temp_dir().join(format!("pt-agent-script-{}", std::process::id()));
    let _cleanup = Cleanup(dir.clone());

    // Four callers at once: one agent, the same addresses for all.
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || script(&dir, &[]))
        })
        .collect();
    let results: Vec<_> = callers
        .into_iter()
        .map(|c| c.join().expect("caller"))
        .collect();
    for (ok, _, err) in &results {
        assert!(ok, "the script failed: {err}");
    }
    let started: Vec<&String> = results
        .iter()
        .filter_map(|(_, vars, _)| vars.get("PT_TEST_AGENT_STARTED_PID"))
        .collect();
    assert_eq!(started.len(), 1, "exactly one caller starts the agent");
    let pid = started[0].clone();
    let vars = &results[0].1;
    for (_, other, _) in &results {
        assert_eq!(other["PT_TEST_AGENT_URL"], vars["PT_TEST_AGENT_URL"]);
    }

    // Never the Datadog Agent's ports, and the agent answers on them.
    let ports = [
        port(&vars["PT_TEST_AGENT_URL"]),
        port(&vars["PT_OTLP_HTTP_ENDPOINT"]),
        port(&vars["PT_OTLP_GRPC_ENDPOINT"]),
    ];
    for p in ports {
        assert!(![8125, 8126, 4317, 4318].contains(&p), "{ports:?}");
    }
    let info = format!("{}/info", vars["PT_TEST_AGENT_URL"]);
    assert!(http_get_ok(&info), "the agent answers {info}");

    // A later caller reuses it and is not told to stop it.
    let (ok, again, _) = script(&dir, &[]);
    assert!(ok);
    assert_eq!(again["PT_TEST_AGENT_URL"], vars["PT_TEST_AGENT_URL"]);
    assert!(!again.contains_key("PT_TEST_AGENT_STARTED_PID"));

    // Stopping another pid leaves it running; its own pid stops it.
    let (ok, _, _) = script(&dir, &["--stop-pid", "999999999"]);
    assert!(ok);
    assert!(alive(&pid), "a wrong pid must not stop the agent");
    let (ok, _, _) = script(&dir, &["--stop-pid", &pid]);
    assert!(ok);
    assert!(
        gone_within(&pid, Duration::from_secs(10)),
        "pid {pid} still runs"
    );
}

/// GET over a plain TCP connection (no HTTP client dependency needed).
fn http_get_ok(url: &str) -> bool {
    use std::io::{Read, Write};
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut stream) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}
