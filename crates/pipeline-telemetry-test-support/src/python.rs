//! The Python test peers (`datadog`, `ddapm-test-agent`, and whatever
//! `scripts/peers-requirements.txt` lists), in `.venv` at the workspace root.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

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
