//! A Python test peer driven over JSON lines (one request per line on its
//! stdin, one answer per line on its stdout), with nothing sent anywhere:
//! ddtrace's agent URL is a closed loopback port, tracing, telemetry and
//! remote configuration are off.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

/// A running peer script of `tests/peers/`.
pub(crate) struct JsonPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl JsonPeer {
    /// Starts `tests/peers/<script>` with `envs` added to its environment.
    pub(crate) fn start(script: &str, envs: &[(&str, &str)]) -> Self {
        let path = pipeline_telemetry_test_support::workspace_root()
            .join("tests/peers")
            .join(script);
        let mut child = Command::new(pipeline_telemetry_test_support::python::python())
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
    pub(crate) fn ask(&mut self, request: &Value) -> Value {
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
