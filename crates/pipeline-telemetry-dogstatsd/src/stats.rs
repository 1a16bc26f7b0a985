//! What the exporter sent and dropped, and rate-limited error reporting.

use std::io;
use std::time::{Duration, Instant};

/// How often the same kind of send error is reported as a warning.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Counters of the active exporter since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The transport in use (`udp`, `uds`, `console`, `memory`).
    pub transport: &'static str,
    /// Datagrams handed to the socket.
    pub packets_sent: u64,
    /// Datagrams the socket refused (Agent absent, buffer full).
    pub packets_dropped: u64,
    /// Bytes handed to the socket.
    pub bytes_sent: u64,
    /// Bytes of dropped datagrams.
    pub bytes_dropped: u64,
    /// Metric lines sent.
    pub metrics_sent: u64,
    /// Metric lines in dropped datagrams.
    pub metrics_dropped: u64,
    /// Timestamped points, events and service checks dropped because a
    /// buffer was full. (Distribution samples are never dropped without
    /// account: see `samples_sampled_out`.)
    pub samples_dropped: u64,
    /// Distribution samples recorded but not sent, because a series had
    /// more samples in a flush interval than it sends, or a thread's buffer
    /// was past 7/8 full: the values sent for that series in that interval
    /// carry integer weights in `|@rate` that the Agent counts as exactly
    /// the samples recorded.
    pub samples_sampled_out: u64,
    /// Values not encoded: NaN, infinite, or a line longer than a datagram.
    pub values_skipped: u64,
    /// Series registered in the process.
    pub series: u64,
    /// Registrations folded into an overflow series (tag values `other`)
    /// because the series limit was reached, plus values folded by the
    /// facade's bounded tables; since the process started.
    pub series_folded: u64,
    /// Samples waiting in the hot-path buffers when these stats were taken.
    pub buffered_samples: u64,
    /// Events sent or attempted.
    pub events: u64,
    /// Service checks sent or attempted.
    pub service_checks: u64,
    /// Send errors seen (each also counts a dropped packet).
    pub errors: u64,
    last_warning: Option<WarnedAt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WarnedAt(Instant, io::ErrorKind);

impl Stats {
    pub(crate) fn note_error(&mut self, e: &io::Error) {
        self.errors += 1;
        if e.kind() == io::ErrorKind::NotConnected {
            // Waiting to reconnect or to resolve the Agent: the transport
            // already reported why, once.
            return;
        }
        let now = Instant::now();
        let due = match self.last_warning {
            Some(WarnedAt(at, kind)) => kind != e.kind() || now.duration_since(at) >= WARN_EVERY,
            None => true,
        };
        if due {
            self.last_warning = Some(WarnedAt(now, e.kind()));
            tracing::warn!(
                target: "pipeline_telemetry_dogstatsd",
                error = %e,
                packets_dropped = self.packets_dropped,
                "cannot send to the DogStatsD Agent; dropping metrics (reported at most once a minute)"
            );
        }
    }
}
