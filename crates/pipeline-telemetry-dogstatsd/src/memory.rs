//! The in-memory transport: the test double of a DogStatsD server.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use crate::parse::{self, ParsedMetric};
use crate::transport::Transport;

/// An in-memory sink that keeps every datagram: the test double of a
/// DogStatsD server.
///
/// ```
/// use pipeline_telemetry_dogstatsd::MemorySink;
/// let sink = MemorySink::new();
/// assert!(sink.datagrams().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemorySink(Arc<Mutex<Vec<Vec<u8>>>>);

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every datagram received, in order.
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Every metric line received, in order.
    pub fn lines(&self) -> Vec<String> {
        self.datagrams()
            .iter()
            .flat_map(|d| {
                String::from_utf8_lossy(d)
                    .split('\n')
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every metric line, parsed (events and service checks are left
    /// out; see [`MemorySink::events_and_checks`]). Lines that do not parse
    /// are returned as errors so that a test sees them.
    ///
    /// # Errors
    ///
    /// The [`ParseError`](parse::ParseError) of the first metric line that
    /// does not parse.
    pub fn metrics(&self) -> Result<Vec<ParsedMetric>, parse::ParseError> {
        self.lines()
            .iter()
            .filter(|l| !is_event_or_check(l))
            .map(|l| parse::parse_line(l))
            .collect()
    }

    /// The event (`_e{..}`) and service check (`_sc|..`) lines received.
    pub fn events_and_checks(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| is_event_or_check(l))
            .collect()
    }

    /// Forgets everything received.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

fn is_event_or_check(line: &str) -> bool {
    line.starts_with("_e{") || line.starts_with("_sc|")
}

impl Transport for MemorySink {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(datagram.to_vec());
        Ok(())
    }
    fn name(&self) -> &'static str {
        "memory"
    }
}
