//! Timestamped metric points: what monitors are evaluated over.

use pipeline_telemetry_dogstatsd::encoder::MetricType;
use pipeline_telemetry_dogstatsd::parse::ParsedMetric;

/// The DogStatsD type of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PointKind {
    /// `c`: summed per flush interval; read in Datadog as a rate.
    Count,
    /// `g`: the last value of a flush interval wins.
    Gauge,
    /// `d`: every sample kept, aggregated globally.
    Distribution,
    /// `h` or `ms`: the Agent splits these into `<name>.avg`, `.max`,
    /// `.count`, ...; the bare name does not exist in Datadog, so a query
    /// on it never sees these points.
    Histogram,
    /// `s`: the number of distinct values per flush interval, as a gauge.
    Set,
}

/// One metric point sent at `timestamp` (unix seconds).
///
/// ```
/// use pipeline_telemetry_monitors::Point;
/// let p = Point::distribution(1_700_000_000, "pipeline.stage.duration", 7.0).with_tag("stage", "spark");
/// assert_eq!(p.tag("stage"), Some("spark"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Point {
    /// Unix seconds.
    pub timestamp: u64,
    /// The metric name.
    pub name: String,
    /// Its type.
    pub kind: PointKind,
    /// One value, or several for a multi-value line.
    pub values: Vec<f64>,
    /// The client-side sample rate (1.0 when unsampled); counts are
    /// scaled by its inverse, as the Agent does.
    pub sample_rate: f64,
    /// `key:value` tags.
    pub tags: Vec<String>,
}

/// Why a parsed DogStatsD line cannot become a [`Point`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PointError {
    /// A metric type this crate does not know.
    #[error("metric {name:?} has the unsupported type {wire_type:?}")]
    UnsupportedType {
        /// The metric name.
        name: String,
        /// The type token on the wire.
        wire_type: String,
    },
}

impl Point {
    /// A point of any kind with one value and no tags.
    pub fn new(timestamp: u64, name: impl Into<String>, kind: PointKind, value: f64) -> Self {
        Point {
            timestamp,
            name: name.into(),
            kind,
            values: vec![value],
            sample_rate: 1.0,
            tags: Vec::new(),
        }
    }

    /// A count increment.
    pub fn count(timestamp: u64, name: impl Into<String>, value: f64) -> Self {
        Point::new(timestamp, name, PointKind::Count, value)
    }

    /// A gauge value.
    pub fn gauge(timestamp: u64, name: impl Into<String>, value: f64) -> Self {
        Point::new(timestamp, name, PointKind::Gauge, value)
    }

    /// A distribution sample.
    pub fn distribution(timestamp: u64, name: impl Into<String>, value: f64) -> Self {
        Point::new(timestamp, name, PointKind::Distribution, value)
    }

    /// Changes the kind (to see, for example, that a histogram does not
    /// exist under its bare name).
    pub fn with_kind(mut self, kind: PointKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the client-side sample rate (in `(0, 1]`; anything else is 1).
    pub fn with_sample_rate(mut self, rate: f64) -> Self {
        self.sample_rate = if rate > 0.0 && rate <= 1.0 { rate } else { 1.0 };
        self
    }

    /// Adds a `key:value` tag.
    pub fn with_tag(mut self, key: &str, value: &str) -> Self {
        self.tags.push(format!("{key}:{value}"));
        self
    }

    /// Adds tags written as `key:value`.
    pub fn with_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// The value of the first tag with key `key` (`""` for a bare tag).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find_map(|t| match t.split_once(':') {
            Some((k, v)) if k == key => Some(v),
            None if t == key => Some(""),
            _ => None,
        })
    }

    /// Builds a point from a parsed DogStatsD line received at `timestamp`.
    ///
    /// ```
    /// use pipeline_telemetry_dogstatsd::parse::parse_line;
    /// use pipeline_telemetry_monitors::{Point, PointKind};
    /// let line = parse_line("pipeline.errors:1|c|#pipeline:etl,stage:spark").unwrap();
    /// let p = Point::from_parsed(&line, 1_700_000_000).unwrap();
    /// assert_eq!(p.kind, PointKind::Count);
    /// assert_eq!(p.tag("stage"), Some("spark"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`PointError::UnsupportedType`] for a DogStatsD type that has no
    /// [`PointKind`] (any type other than count, gauge, distribution,
    /// histogram, timing and set).
    pub fn from_parsed(metric: &ParsedMetric, timestamp: u64) -> Result<Point, PointError> {
        let kind = match metric.kind {
            MetricType::Count => PointKind::Count,
            MetricType::Gauge => PointKind::Gauge,
            MetricType::Distribution => PointKind::Distribution,
            MetricType::Histogram | MetricType::Timing => PointKind::Histogram,
            MetricType::Set => PointKind::Set,
            other => {
                return Err(PointError::UnsupportedType {
                    name: metric.name.clone(),
                    wire_type: other.as_str().to_owned(),
                })
            }
        };
        Ok(Point {
            timestamp,
            name: metric.name.clone(),
            kind,
            values: metric.values.clone(),
            sample_rate: metric
                .sample_rate
                .filter(|r| *r > 0.0 && *r <= 1.0)
                .unwrap_or(1.0),
            tags: metric.tags.clone(),
        })
    }
}

/// Turns a whole capture of parsed DogStatsD lines, all received at
/// `timestamp`, into points (a line's own `|T<unix>` field wins).
///
/// ```
/// use pipeline_telemetry_dogstatsd::parse::parse_datagram;
/// use pipeline_telemetry_monitors::point::points_from_parsed;
/// let lines = parse_datagram("pipeline.runs:1|c\npipeline.errors:1|c|T1700000005").unwrap();
/// let points = points_from_parsed(&lines, 1_700_000_000).unwrap();
/// assert_eq!(points[0].timestamp, 1_700_000_000);
/// assert_eq!(points[1].timestamp, 1_700_000_005);
/// ```
///
/// # Errors
///
/// The [`PointError`] of the first metric [`Point::from_parsed`] rejects.
pub fn points_from_parsed(
    metrics: &[ParsedMetric],
    timestamp: u64,
) -> Result<Vec<Point>, PointError> {
    metrics
        .iter()
        .map(|m| Point::from_parsed(m, m.timestamp.unwrap_or(timestamp)))
        .collect()
}
