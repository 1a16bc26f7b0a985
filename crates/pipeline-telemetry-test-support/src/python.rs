//! The Python test peers (`datadog`, `ddapm-test-agent`, and whatever
//! `scripts/peers-requirements.txt` lists), in `.venv` at the workspace root.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The virtualenv's `python`, installing the peers on first use with
/// `scripts/setup-peers.sh` (idempotent, quick when up to date).
///
/// # Panics
/// When the install fails: the message says what to run by hand.
pub fn python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let root = crate::workspace_root();
            let status = Command::new(root.join("scripts/setup-peers.sh"))
                .current_dir(&root)
                .status();
            match status {
                Ok(s) if s.success() => {}
                other => panic!(
                    "installing the Python test peers failed ({other:?}): run scripts/setup-peers.sh \
                     and read its output"
                ),
            }
            root.join(".venv/bin/python")
        })
        .clone()
}

/// A binary of the virtualenv (`dbt`, `spark-submit`, ...), installing the
/// peers first.
pub fn venv_bin(name: &str) -> PathBuf {
    let py = python();
    py.with_file_name(name)
}

/// A Python test peer driven over JSON lines (one request per line on its
/// stdin, one answer per line on its stdout), with nothing sent anywhere:
/// ddtrace's agent URL is a closed loopback port, tracing, telemetry and
/// remote configuration are off, and the sampling settings of the caller's
/// environment are not passed on.
/// A running peer script of `tests/peers/`.
#[derive(Debug)]
pub struct JsonPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl JsonPeer {
    /// Starts `tests/peers/<script>` with `envs` added to its environment.
    ///
    /// # Panics
    /// When the peers cannot be installed or the script cannot start.
    pub fn start(script: &str, envs: &[(&str, &str)]) -> Self {
        let path = crate::workspace_root().join("tests/peers").join(script);
        let mut child = Command::new(python())
            .arg(path)
            .env("DD_TRACE_AGENT_URL", "http://127.0.0.1:9")
            .env("DD_TRACE_ENABLED", "false")
            .env("DD_INSTRUMENTATION_TELEMETRY_ENABLED", "false")
            .env("DD_REMOTE_CONFIGURATION_ENABLED", "false")
            .env_remove("DD_TRACE_SAMPLING_RULES")
            .env_remove("DD_TRACE_RATE_LIMIT")
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start the peer {script}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        JsonPeer {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends one request and reads its answer.
    ///
    /// # Panics
    /// When the peer does not answer with one line of JSON.
    pub fn ask(&mut self, request: &Value) -> Value {
        writeln!(self.stdin, "{request}").expect("write to the peer");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read the peer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("the peer said {line:?}: {e}"))
    }
}

impl Drop for JsonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
