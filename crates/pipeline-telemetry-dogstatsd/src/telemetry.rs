//! The client's own telemetry, as the official clients send it:
//! `datadog.dogstatsd.client.*` counts tagged `client:rust`,
//! `client_version`, `client_transport`.

use std::time::{Duration, Instant};

use crate::stats::Stats;

/// When and with which tags telemetry is sent, and what was last reported.
#[derive(Debug)]
pub(crate) struct Telemetry {
    interval: Duration,
    tags: String,
    last: Instant,
    reported: Stats,
}

impl Telemetry {
    pub(crate) fn new(interval: Duration, tags: String) -> Self {
        Telemetry {
            interval,
            tags,
            last: Instant::now(),
            reported: Stats::default(),
        }
    }

    /// The telemetry lines if they are due, else none.
    pub(crate) fn due_lines(&mut self, now: &Stats) -> Vec<String> {
        if self.last.elapsed() < self.interval {
            return Vec::new();
        }
        self.last = Instant::now();
        let prev = std::mem::replace(&mut self.reported, now.clone());
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let queue_drops = d(now.samples_dropped, prev.samples_dropped);
        let values = [
            (
                "metrics",
                d(
                    now.metrics_sent + now.metrics_dropped,
                    prev.metrics_sent + prev.metrics_dropped,
                ),
            ),
            ("events", d(now.events, prev.events)),
            ("service_checks", d(now.service_checks, prev.service_checks)),
            ("bytes_sent", d(now.bytes_sent, prev.bytes_sent)),
            ("bytes_dropped", d(now.bytes_dropped, prev.bytes_dropped)),
            (
                "bytes_dropped_writer",
                d(now.bytes_dropped, prev.bytes_dropped),
            ),
            ("packets_sent", d(now.packets_sent, prev.packets_sent)),
            (
                "packets_dropped",
                d(now.packets_dropped, prev.packets_dropped) + queue_drops,
            ),
            (
                "packets_dropped_writer",
                d(now.packets_dropped, prev.packets_dropped),
            ),
            ("packets_dropped_queue", queue_drops),
            ("aggregated_context", now.series),
            ("series_folded", d(now.series_folded, prev.series_folded)),
            (
                "samples_sampled_out",
                d(now.samples_sampled_out, prev.samples_sampled_out),
            ),
        ];
        values
            .iter()
            .map(|(name, v)| format!("datadog.dogstatsd.client.{name}:{v}|c|#{}", self.tags))
            .collect()
    }
}
