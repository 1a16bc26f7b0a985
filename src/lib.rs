//! Shared helpers for the workspace's examples, cross-crate tests and benches.
