//! The active exporter: its transport, encoder, global tags and what it
//! sent; the flusher ([`crate::flusher`]) drives it. Encoding fills an
//! [`Outbox`]; the flusher hands it to the [`Link`] to send once its lock
//! is released.

use std::sync::Arc;
use std::time::Duration;

use crate::encoder::{Encoder, Suffix};
use crate::events::{self, Message};
use crate::link::{self, Link, Outbox};
use crate::registry::{self, Series};
use crate::stats::Stats;
use crate::telemetry::Telemetry;
use crate::transport::Transport;

/// An active exporter: its transport, encoder and global tags.
#[derive(Debug)]
pub(crate) struct Exporter {
    encoder: Encoder,
    pub(crate) sink: Sink,
    /// The transport, sending outside the flusher's lock.
    pub(crate) link: Arc<Link>,
    global_tags: String,
    /// Origin-detection fields appended to every line.
    extra: String,
    pub(crate) interval: Duration,
    pub(crate) max_samples: usize,
    suffixes: Vec<Option<Suffix>>,
    telemetry: Option<Telemetry>,
    line: Vec<u8>,
}

/// The datagrams of the flush being encoded, and the counters kept while
/// encoding (the send counters are the [`Link`]'s).
#[derive(Debug)]
pub(crate) struct Sink {
    pub(crate) outbox: Outbox,
    pub(crate) stats: Stats,
}

impl Exporter {
    pub(crate) fn new(
        transport: Box<dyn Transport>,
        max_payload: usize,
        global_tags: String,
        interval: Duration,
    ) -> Self {
        let mut stats = Stats::default();
        stats.transport = transport.name();
        Exporter {
            encoder: Encoder::new(max_payload),
            sink: Sink {
                outbox: Outbox::default(),
                stats,
            },
            link: Arc::new(Link::new(transport)),
            global_tags,
            extra: String::new(),
            interval,
            max_samples: crate::reservoir::DEFAULT_MAX_SAMPLES_PER_SERIES,
            suffixes: Vec::new(),
            telemetry: None,
            line: Vec::new(),
        }
    }

    /// Appends origin-detection fields (`|c:..`) to every line.
    pub(crate) fn with_origin(mut self, extra: String) -> Self {
        self.extra = extra;
        self
    }

    /// Sends at most `max` samples per distribution series per flush.
    pub(crate) fn with_max_samples(mut self, max: usize) -> Self {
        self.max_samples = max.max(1);
        self
    }

    /// Sends the client's telemetry every `interval` with `tags`.
    pub(crate) fn with_telemetry(mut self, t: Option<(Duration, String)>) -> Self {
        self.telemetry = t.map(|(i, tags)| Telemetry::new(i, tags));
        self
    }

    fn tags_of(&self, s: &Series) -> String {
        match (s.tags.is_empty(), self.global_tags.is_empty()) {
            (true, _) => self.global_tags.clone(),
            (false, true) => s.tags.clone(),
            (false, false) => format!("{},{}", s.tags, self.global_tags),
        }
    }

    /// Sends one timestamped point, unaggregated.
    pub(crate) fn encode_timed(&mut self, s: &Series, value: f64, timestamp: u64) {
        let suffix = Suffix::new(
            s.kind,
            Some(s.sample_rate),
            &self.tags_of(s),
            Some(timestamp),
            &self.extra,
        );
        let sink = &mut self.sink;
        self.encoder
            .encode(&s.name, &[value], &suffix, &mut |d| sink.send(d));
    }

    /// Sends the queued events and service checks.
    pub(crate) fn send_messages(&mut self) {
        while let Some(m) = events::pop() {
            self.line.clear();
            match &m {
                Message::Event(e) => {
                    e.write(&mut self.line, &self.global_tags, &self.extra);
                    self.sink.stats.events += 1;
                }
                Message::ServiceCheck(c) => {
                    c.write(&mut self.line, &self.global_tags, &self.extra);
                    self.sink.stats.service_checks += 1;
                }
            }
            let sink = &mut self.sink;
            self.encoder.push_line(&self.line, &mut |d| sink.send(d));
        }
    }

    pub(crate) fn send_telemetry(&mut self) {
        let Some(t) = self.telemetry.as_mut() else {
            return;
        };
        let mut stats = link::with_sends(self.sink.stats.clone(), &self.link.stats());
        stats.series = registry::len() as u64;
        stats.series_folded = registry::folded();
        for line in t.due_lines(&stats) {
            let sink = &mut self.sink;
            self.encoder
                .push_line(line.as_bytes(), &mut |d| sink.send(d));
        }
    }

    /// Encodes distribution values that each stand for `weight` samples:
    /// with no `|@rate` for weight 1, else with the rate the Agent counts
    /// as exactly `weight` per value (see [`crate::weight`]).
    pub(crate) fn encode_weighted(&mut self, s: &Series, values: &[f64], weight: u64) {
        if values.is_empty() {
            return;
        }
        if weight <= 1 {
            // The series' own rate is already in the weights.
            return self.encode_with(s, values, None);
        }
        let suffix = Suffix::new(
            s.kind,
            Some(crate::weight::rate_for_weight(weight)),
            &self.tags_of(s),
            None,
            &self.extra,
        );
        let sink = &mut self.sink;
        self.encoder
            .encode(&s.name, values, &suffix, &mut |d| sink.send(d));
    }

    /// Encodes one series' values; full datagrams go to the transport.
    pub(crate) fn encode(&mut self, s: &Series, values: &[f64]) {
        self.encode_with(s, values, Some(s.sample_rate));
    }

    /// Encodes with the series' cached suffix, built with `rate` the first
    /// time (one series always passes the same).
    fn encode_with(&mut self, s: &Series, values: &[f64], rate: Option<f64>) {
        let i = s.id as usize;
        if self.suffixes.len() <= i {
            self.suffixes.resize(i + 1, None);
        }
        if self.suffixes[i].is_none() {
            let tags = self.tags_of(s);
            self.suffixes[i] = Some(Suffix::new(s.kind, rate, &tags, None, &self.extra));
        }
        let Some(suffix) = self.suffixes[i].as_ref() else {
            return;
        };
        let sink = &mut self.sink;
        self.encoder
            .encode(&s.name, values, suffix, &mut |d| sink.send(d));
    }

    pub(crate) fn finish(&mut self) {
        let sink = &mut self.sink;
        self.encoder.finish(&mut |d| sink.send(d));
        let skipped = self.encoder.take_skipped();
        self.sink.stats.values_skipped += skipped.non_finite + skipped.too_long;
    }
}

impl Sink {
    pub(crate) fn send(&mut self, datagram: &[u8]) {
        self.outbox.push(datagram);
    }
}
