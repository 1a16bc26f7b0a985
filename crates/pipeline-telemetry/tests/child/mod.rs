//! This test binary run again as a child process, with only the
//! environment a test gives it: `init()` sees exactly those variables.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Set in the child, so that its entry test knows it is the child.
pub(crate) const CHILD_MARKER: &str = "PT_TEST_CHILD";

/// Whether this process is the child.
pub(crate) fn is_child() -> bool {
    std::env::var_os(CHILD_MARKER).is_some()
}

/// Starts `entry` (a test of this binary) in a child process whose only
/// variables are `vars` (and the marker), stdout and stderr piped.
pub(crate) fn spawn(entry: &str, vars: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args([entry, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env_clear()
        .env(CHILD_MARKER, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start the child")
}

/// The child's stderr, line by line, on a channel (read on its own thread,
/// so a full stderr pipe never stops the child).
pub(crate) fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let err = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the child to exit; after `limit` (a watchdog, not a timing
/// assertion: generous) kills it and fails the test instead of hanging.
pub(crate) fn wait_or_kill(
    mut child: Child,
    limit: Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the child did not end within {limit:?}; killed");
        }
        thread::sleep(Duration::from_millis(20));
    }
}
