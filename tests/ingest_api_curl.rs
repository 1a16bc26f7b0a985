//! `examples/ingest_api.rs` against a client nobody here wrote: `curl`
//! posts a batch with W3C `traceparent` and `baggage`, the example stores
//! it in the local PostgreSQL, and the spans it prints (the console
//! exporter: no OTLP endpoint set) continue curl's trace: the request span
//! under curl's span, the INSERT spans in the same trace.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_telemetry_test_support::peers;

const TRACE: &str = "5bf92f3577b34da6a3ce929d0e0e4739";
const PARENT: &str = "10f067aa0ba902b7";

#[test]
fn curl_continues_its_trace_through_the_example() {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    // `cargo test` builds the examples next to the test binaries.
    let exe = std::env::current_exe().expect("test binary path");
    let example = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("examples").join("ingest_api"))
        .expect("target dir");
    assert!(
        example.exists(),
        "{} not built: run cargo test (it builds examples)",
        example.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let stderr_path =
        std::env::temp_dir().join(format!("ingest_api_{}.stderr", std::process::id()));
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut child = Command::new(&example)
        .env("PORT", port.to_string())
        .env("DATABASE_URL", peers::database_url())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("DD_AGENT_HOST")
        .env_remove("DD_DOGSTATSD_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("start the example");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !line.contains("listening") {
        line.clear();
        if stdout.read_line(&mut line).expect("read stdout") == 0 || Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "the example did not start: {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
    }
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            "10",
            "-X",
            "POST",
        ])
        .args(["--data-binary", "first record\nsecond record\n"])
        .arg("-H")
        .arg(format!("traceparent: 00-{TRACE}-{PARENT}-01"))
        .arg("-H")
        .arg("baggage: pipeline_id=curl-42")
        .arg(format!("http://127.0.0.1:{port}/batches/curl"))
        .output()
        .unwrap_or_else(|e| panic!("curl must be installed for this test: {e}"));
    // Stop it the way a user does (Ctrl-C): graceful shutdown flushes spans.
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().expect("wait for the example");
    let printed = std::fs::read_to_string(&stderr_path).expect("stderr");
    let _ = std::fs::remove_file(&stderr_path);
    assert!(
        out.status.success(),
        "curl: {}\n{printed}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "pipeline_id=curl-42 records=2\n"
    );
    assert!(
        status.success(),
        "the example exits cleanly on Ctrl-C: {status}\n{printed}"
    );
    let spans: Vec<&str> = printed.lines().filter(|l| l.starts_with("span ")).collect();
    let request = spans
        .iter()
        .find(|l| l.starts_with("span POST /batches/{source}"))
        .unwrap_or_else(|| panic!("no request span printed:\n{printed}"));
    assert!(request.contains(&format!("trace={TRACE}")), "{request}");
    assert!(request.contains(&format!("parent={PARENT}")), "{request}");
    let inserts = spans
        .iter()
        .filter(|l| {
            l.starts_with("span INSERT ingest_records") && l.contains(&format!("trace={TRACE}"))
        })
        .count();
    assert_eq!(
        inserts, 2,
        "one INSERT span per record in curl's trace:\n{printed}"
    );
    assert!(
        !printed.contains("first record"),
        "no record value in any span"
    );
}
