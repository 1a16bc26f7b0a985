//! Re-runs one test of this binary in a private mount namespace, with a
//! file or directory of the test's bind-mounted over a system path (the
//! Agent's socket directory, `/etc/hosts`): without root when the kernel
//! allows user namespaces (`unshare --map-root-user --mount`), else as root
//! (`unshare --mount`). When neither works the test fails, saying what it
//! needs: it is never skipped.

use std::path::Path;
use std::process::{Command, Output};

/// Printed once the bind mount is in place (the namespace works).
const READY: &str = "PT_NAMESPACE_READY";

/// Runs `test` of this binary with `env` set, in a private mount namespace
/// where `source` is bind-mounted over `target`; its output.
pub(crate) fn run_with_bind_mount(
    source: &Path,
    target: &str,
    test: &str,
    env: (&str, &str),
) -> Output {
    let exe = std::env::current_exe().expect("test binary");
    let script = format!(
        r#"mount --bind "$0" "$1" && echo {READY} && exec "$2" --exact "$3" --nocapture --test-threads=1"#
    );
    let mut tried = Vec::new();
    for flags in [&["--map-root-user", "--mount"][..], &["--mount"][..]] {
        let run = Command::new("unshare")
            .args(flags)
            .args(["sh", "-c", &script])
            .arg(source)
            .arg(target)
            .arg(&exe)
            .arg(test)
            .env(env.0, env.1)
            .output();
        match run {
            Ok(out) if String::from_utf8_lossy(&out.stdout).contains(READY) => return out,
            Ok(out) => tried.push(format!(
                "`unshare {}`: {}",
                flags.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => tried.push(format!("`unshare {}`: {e}", flags.join(" "))),
        }
    }
    panic!(
        "this test needs a private mount namespace to put its own {target} in place, and none \
         could be made. Run it as root, or allow unprivileged user namespaces \
         (`sysctl kernel.unprivileged_userns_clone=1`, `user.max_user_namespaces` above 0) so that \
         `unshare --map-root-user --mount` works; `unshare` and `mount` come with util-linux.\n{}",
        tried.join("\n")
    );
}
