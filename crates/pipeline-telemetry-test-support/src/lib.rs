//! Test support for the pipeline-telemetry workspace (`publish = false`).
//!
//! Every real-peer test of the workspace takes its peers from here, so that
//! a plain `cargo test` finds or starts them the same way everywhere:
//!
//! - [`udp`]: DogStatsD receivers on real loopback UDP and Unix-datagram
//!   sockets, returning the exact bytes the emitter sent.
//! - [`agent`]: Datadog's APM test agent (started on free loopback ports
//!   when the environment does not name one) and reading back the OTLP
//!   traces and logs it received.
//! - [`python`]: the Python test peers' virtualenv (`.venv` at the
//!   workspace root), installed on first use.
//! - [`ddtrace`]: ddtrace-py peers reporting to the test agent under a
//!   session token, their spans read back, and the propagation styles the
//!   interop tests run in on both sides.
//! - [`capture`]: an in-memory `MakeWriter` for reading back log output.
//! - [`peers`]: reachability checks that fail loudly, never skip, with the
//!   command that starts the missing peer.
#![deny(missing_docs)]

pub mod agent;
pub mod capture;
pub mod ddtrace;
pub mod example;
pub mod native;
pub mod peers;
pub mod python;
pub mod udp;

use std::path::PathBuf;

pub use udp::{UdpReceiver, UnixDatagramReceiver};

/// The workspace root (where `scripts/` and `.venv` live).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .and_then(|crates| crates.parent())
        .map(PathBuf::from)
        .unwrap_or(here)
}
