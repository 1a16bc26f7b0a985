//! The workspace's examples as executables, for tests that run them the way
//! a user does.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The executable of example `name`: the one `cargo test --workspace`
/// built next to the calling test's binary
/// (`<target>/<profile>/examples/<name>`), or, when it is missing, built
/// with the cargo running the test into the same target directory.
///
/// # Panics
/// When the example cannot be built.
pub fn exe(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("test binary path");
    // <target>/<profile>/deps/<test binary>
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in <target>/<profile>/deps");
    let built = profile_dir.join("examples").join(name);
    if built.is_file() {
        return built;
    }
    let target_dir = profile_dir.parent().expect("a target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "build",
            "--example",
            name,
            "--message-format=json",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(crate::workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo build --example {name} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("the example's executable")
}
