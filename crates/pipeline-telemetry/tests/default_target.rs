//! With no address configured, `init()` sends to an Agent it finds on
//! localhost, else prints to stderr, and says which once on stderr. Each
//! case runs this test binary again as a child (one `init()` per process),
//! with `DD_DOGSTATSD_PORT` pointing the localhost probe at a real UDP
//! socket of the test's, or at a closed port. The child runs in a private
//! mount namespace (a user namespace, or as root) with an empty directory
//! over `/var/run`, so that an Agent socket on the machine running the
//! tests is not found first.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use pipeline_telemetry::TelemetryBuilder;

const CHILD: &str = "PT_DEFAULT_TARGET_CHILD";
const TEST: &str = "no_address_means_a_local_agent_else_stderr_said_once";

/// Printed once the empty `/var/run` is in place.
const READY: &str = "PT_NAMESPACE_READY";

/// Runs the child in a private mount namespace with an empty `/var/run`:
/// without root when user namespaces are allowed, else as root; fails
/// (never skips) saying what it needs when neither works.
fn run_child(port: u16) -> (String, String) {
    let run = std::env::temp_dir().join(format!("pt-default-target-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&run).expect("temp dir");
    let script = format!(
        r#"mount --bind "$0" /var/run && echo {READY} && exec "$1" --exact "$2" --nocapture --test-threads=1"#
    );
    let mut tried = Vec::new();
    let mut ran = None;
    for flags in [&["--map-root-user", "--mount"][..], &["--mount"][..]] {
        let out = Command::new("unshare")
            .args(flags)
            .args(["sh", "-c", &script])
            .arg(&run)
            .arg(std::env::current_exe().expect("test binary"))
            .arg(TEST)
            .env(CHILD, "1")
            .env("DD_DOGSTATSD_PORT", port.to_string())
            .env_remove("DD_AGENT_HOST")
            .env_remove("DD_DOGSTATSD_URL")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .output();
        match out {
            Ok(out) if String::from_utf8_lossy(&out.stdout).contains(READY) => {
                ran = Some(out);
                break;
            }
            Ok(out) => tried.push(format!(
                "`unshare {}`: {}",
                flags.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => tried.push(format!("`unshare {}`: {e}", flags.join(" "))),
        }
    }
    let _ = std::fs::remove_dir_all(&run);
    let Some(out) = ran else {
        panic!(
            "this test needs a private mount namespace (an empty /var/run, so that no Agent socket \
             is found), and none could be made. Run it as root, or allow unprivileged user \
             namespaces (`sysctl kernel.unprivileged_userns_clone=1`, `user.max_user_namespaces` \
             above 0) so that `unshare --map-root-user --mount` works.\n{}",
            tried.join("\n")
        );
    };
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn said(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("pipeline-telemetry: "))
        .collect()
}

#[test]
fn no_address_means_a_local_agent_else_stderr_said_once() {
    if std::env::var_os(CHILD).is_some() {
        assert!(
            !std::path::Path::new(pipeline_telemetry_dogstatsd::DEFAULT_SOCKET).exists(),
            "the private /var/run holds no Agent socket"
        );
        let telemetry = TelemetryBuilder::from_env().init().expect("init");
        metrics::counter!("default_target.count").increment(1);
        drop(telemetry);
        return;
    }
    // An "Agent" on 127.0.0.1 at DD_DOGSTATSD_PORT: found, and it gets the metrics.
    let agent = UdpSocket::bind("127.0.0.1:0").expect("bind");
    agent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let port = agent.local_addr().expect("address").port();
    let (_, stderr) = run_child(port);
    let lines = said(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains(&format!("udp://127.0.0.1:{port}")) && lines[0].contains("DD_AGENT_HOST"),
        "{stderr}"
    );
    let mut got = String::new();
    let mut buf = [0u8; 65536];
    while !got.contains("default_target.count:1|c") {
        let n = agent.recv(&mut buf).expect("the metrics arrive");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }

    // Nothing listens there: stderr, said once, with the metric lines.
    drop(agent);
    let (_, stderr) = run_child(port);
    let lines = said(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("printing metrics to stderr"), "{stderr}");
    assert!(stderr.contains("default_target.count:1|c"), "{stderr}");
}
