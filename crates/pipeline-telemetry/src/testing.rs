//! Test doubles: capture what the library would send, in memory.
//!
//! ```
//! use pipeline_telemetry::{testing::Capture, PipelineRun};
//!
//! let capture = Capture::start();
//! PipelineRun::start("doc_pipeline", "1").finish();
//! let metrics = capture.finish();
//! assert!(metrics.iter().any(|m| m.name == "pipeline.runs" && m.tag("pipeline") == Some("doc_pipeline")));
//! ```

use std::sync::{Mutex, MutexGuard, PoisonError};

use pipeline_telemetry_dogstatsd::{self as dogstatsd, DogStatsDBuilder, DogStatsDGuard, Target};

pub use pipeline_telemetry_dogstatsd::parse::{parse_datagram, parse_line, ParsedMetric};
pub use pipeline_telemetry_dogstatsd::MemorySink;
/// Monitors as code and their local evaluation: test your alerts on what
/// your pipeline really emits (see [`Capture::take_points`]). Needs the
/// `testing` feature (the monitor query parser and evaluator).
#[cfg(feature = "testing")]
pub use pipeline_telemetry_monitors as monitors;
#[cfg(feature = "testing")]
use pipeline_telemetry_monitors::{points_from_parsed, Point};

/// Captures run one at a time in a process (they share the exporter).
static SERIAL: Mutex<()> = Mutex::new(());

/// Captures every metric emitted while it lives. Captures in one process
/// run one after another (each waits for the previous one to finish).
#[derive(Debug)]
pub struct Capture {
    sink: MemorySink,
    guard: Option<DogStatsDGuard>,
    #[cfg(feature = "testing")]
    taken: usize,
    _serial: MutexGuard<'static, ()>,
}

impl Capture {
    /// Starts capturing, with no global tags.
    ///
    /// # Panics
    ///
    /// If an exporter started elsewhere (for instance by `init()`) is
    /// running: a test double that silently captured nothing would be worse.
    pub fn start() -> Self {
        Self::with_builder(|b| b)
    }

    /// Starts capturing with extra exporter settings (global tags...).
    ///
    /// # Panics
    ///
    /// As [`Capture::start`].
    pub fn with_builder(configure: impl FnOnce(DogStatsDBuilder) -> DogStatsDBuilder) -> Self {
        let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        // Anything recorded before this capture goes to a discarded sink.
        if let Ok(g) = DogStatsDBuilder::new(Target::Memory(MemorySink::new())).start() {
            drop(g);
        }
        let _ = dogstatsd::install_recorder();
        let sink = MemorySink::new();
        let base = DogStatsDBuilder::new(Target::Memory(sink.clone()))
            .with_origin_detection(false)
            .with_telemetry(false);
        let guard = match configure(base).start() {
            Ok(g) => g,
            Err(e) => panic!("cannot start a metrics capture: {e}"),
        };
        Capture {
            sink,
            guard: Some(guard),
            #[cfg(feature = "testing")]
            taken: 0,
            _serial: serial,
        }
    }

    /// Flushes and returns everything captured so far.
    pub fn metrics(&self) -> Vec<ParsedMetric> {
        if let Some(g) = &self.guard {
            g.flush();
        }
        self.parsed()
    }

    /// The raw datagrams captured so far (after a flush).
    pub fn datagrams(&self) -> Vec<Vec<u8>> {
        if let Some(g) = &self.guard {
            g.flush();
        }
        self.sink.datagrams()
    }

    /// Flushes and returns the points emitted since the last call, stamped
    /// with `unix_seconds` (lines with their own `|T` keep it): feed them to
    /// a [`monitors::Monitor`] to see whether it would fire. Needs the
    /// `testing` feature.
    ///
    /// ```
    /// use pipeline_telemetry::testing::{monitors, Capture};
    /// use pipeline_telemetry::PipelineRun;
    ///
    /// let mut capture = Capture::start();
    /// PipelineRun::start("etl", "1").finish();
    /// let points = capture.take_points(1_700_000_000);
    /// let failures = monitors::guide::pipeline_failures(&Default::default());
    /// assert_ne!(failures.evaluate(&points, 1_700_000_060), monitors::MonitorState::Alert);
    /// ```
    ///
    /// # Panics
    ///
    /// When a captured line has a metric type the monitors cannot evaluate,
    /// so that the test sees it. No type the exporter writes today is one:
    /// count, gauge, distribution, histogram, timing and set all map to a
    /// point kind.
    #[cfg(feature = "testing")]
    pub fn take_points(&mut self, unix_seconds: u64) -> Vec<Point> {
        let all = self.metrics();
        let new = all.get(self.taken..).unwrap_or_default();
        self.taken = all.len();
        match points_from_parsed(new, unix_seconds) {
            Ok(p) => p,
            Err(e) => panic!("captured a line that is not a monitorable point: {e}"),
        }
    }

    /// Stops capturing and returns everything captured.
    pub fn finish(mut self) -> Vec<ParsedMetric> {
        drop(self.guard.take());
        self.parsed()
    }

    fn parsed(&self) -> Vec<ParsedMetric> {
        match self.sink.metrics() {
            Ok(m) => m,
            Err(e) => panic!("the exporter sent a line that does not parse: {e}"),
        }
    }
}

/// Sum of the values of the points named `name` carrying every tag in `tags`.
pub fn sum(metrics: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> f64 {
    matching(metrics, name, tags)
        .flat_map(|m| m.values.iter())
        .sum()
}

/// Sums of the points named `name` carrying every tag in `tags`, grouped
/// by the value of tag `by` (empty where a point lacks it), in the order
/// of those values. A series may arrive as several lines (one per flush
/// that saw it), as the Agent receives it; this adds them up as the Agent
/// does.
///
/// ```
/// use pipeline_telemetry::testing::{parse_line, sums_by};
///
/// let m = [
///     parse_line("pipeline.errors:1|c|#stage:load,error_type:timeout").unwrap(),
///     parse_line("pipeline.errors:2|c|#stage:load,error_type:refused").unwrap(),
///     parse_line("pipeline.errors:1|c|#stage:load,error_type:timeout").unwrap(),
/// ];
/// assert_eq!(
///     sums_by(&m, "pipeline.errors", &[("stage", "load")], "error_type"),
///     vec![("refused".to_owned(), 2.0), ("timeout".to_owned(), 2.0)],
/// );
/// ```
pub fn sums_by(
    metrics: &[ParsedMetric],
    name: &str,
    tags: &[(&str, &str)],
    by: &str,
) -> Vec<(String, f64)> {
    let mut sums = std::collections::BTreeMap::<String, f64>::new();
    for m in matching(metrics, name, tags) {
        *sums
            .entry(m.tag(by).unwrap_or_default().to_owned())
            .or_default() += m.values.iter().sum::<f64>();
    }
    sums.into_iter().collect()
}

/// The values of the points named `name` carrying every tag in `tags`.
pub fn values(metrics: &[ParsedMetric], name: &str, tags: &[(&str, &str)]) -> Vec<f64> {
    matching(metrics, name, tags)
        .flat_map(|m| m.values.iter().copied())
        .collect()
}

fn matching<'a>(
    metrics: &'a [ParsedMetric],
    name: &'a str,
    tags: &'a [(&'a str, &'a str)],
) -> impl Iterator<Item = &'a ParsedMetric> + 'a {
    metrics
        .iter()
        .filter(move |m| m.name == name && tags.iter().all(|(k, v)| m.tag(k) == Some(*v)))
}
