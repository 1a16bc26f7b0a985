//! A DogStatsD exporter for Rust: a [`metrics::Recorder`] and native
//! handles whose hot path takes no lock and allocates nothing, client-side
//! aggregation, distributions packed into multi-value lines, and names and
//! tags sanitised so that no input can inject a line.
//!
//! ```
//! use pipeline_telemetry_dogstatsd::{DistributionHandle, DogStatsDBuilder, MemorySink, Target};
//!
//! let sink = MemorySink::new();
//! let guard = DogStatsDBuilder::new(Target::Memory(sink.clone()))
//!     .with_origin_detection(false)
//!     .start()?;
//! let d = DistributionHandle::register("lib.doc.duration", &[("stage", "dbt")]);
//! d.record(0.5);
//! d.record(1.25);
//! drop(guard);
//! assert_eq!(sink.lines(), vec!["lib.doc.duration:0.5:1.25|d|#stage:dbt"]);
//! assert!(sink.datagrams().iter().all(|d| d.ends_with(b"\n")));
//! # Ok::<(), pipeline_telemetry_dogstatsd::InstallError>(())
//! ```
//!
//! Wire encoding ([`encoder`]), sanitising ([`sanitize`]) and parsing
//! ([`parse`]) do no I/O and are usable on their own.
#![deny(missing_docs)]

mod atfork;
mod builder;
mod console;
mod discover;
pub mod encoder;
mod error;
mod events;
mod exporter;
mod flusher;
mod guard;
mod handle;
mod link;
mod memory;
pub mod origin;
pub mod parse;
mod recorder;
mod registry;
mod reservoir;
mod ring;
mod sampling;
pub mod sanitize;
mod shard;
mod stats;
mod target;
mod telemetry;
#[cfg(test)]
mod thinning_tests;
mod timed;
mod transport;
mod udp;
mod weight;

pub use builder::{DogStatsDBuilder, DEFAULT_FLUSH_INTERVAL, DEFAULT_TELEMETRY_INTERVAL};
pub use discover::{Discovery, DEFAULT_SOCKET, PROBE_WAIT};
pub use error::{ConfigError, InstallError, ShutdownError};
pub use events::{
    send_event, send_service_check, AlertType, CheckStatus, Event, Priority, ServiceCheck,
    MESSAGE_CAPACITY, MESSAGE_PIPE, UNTITLED,
};
pub use guard::{DogStatsDGuard, DROP_TIMEOUT};
pub use handle::{CounterHandle, DistributionHandle, GaugeHandle};
pub use recorder::{
    install as install_recorder, is_installed as recorder_installed, DogStatsDRecorder,
};
pub use registry::{
    folded as series_folded, note_folded, Series, CATCH_ALL_NAME, MAX_SERIES, OTHER,
    OVERFLOW_SERIES,
};
pub use reservoir::DEFAULT_MAX_SAMPLES_PER_SERIES;
pub use sanitize::EMPTY_TAG_VALUE;
pub use stats::Stats;
pub use target::{
    Target, DEFAULT_HOST, DEFAULT_PORT, MAX_PAYLOAD, UDP_MAX_PAYLOAD, UDS_MAX_PAYLOAD,
};
pub use timed::TIMED_CAPACITY;
pub use transport::{MemorySink, WRITE_TIMEOUT};
pub use udp::{DEFAULT_RESOLVE_INTERVAL, RESOLVE_RETRY};
