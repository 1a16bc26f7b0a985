//! Capture files: DogStatsD lines, optionally prefixed by a unix timestamp.
//!
//! ```text
//! # comment lines and blank lines are skipped
//! 1700000000 pipeline.runs:1|c|#pipeline:etl
//! 1700000042 pipeline.stage.duration:7.2|d|#pipeline:etl,stage:spark,status:ok
//! pipeline.errors:1|c|#pipeline:etl,stage:spark|T1700000050
//! ```
//!
//! A line's timestamp is its prefix, else its `|T<unix>` field, else the
//! timestamp of the line before it, else the default given to
//! [`parse_capture`]. Events (`_e{`) and service checks (`_sc|`) are
//! skipped.

use pipeline_telemetry_dogstatsd::parse::{parse_line, ParseError};

use crate::point::{Point, PointError};

/// Why a capture file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// A line is not valid DogStatsD.
    #[error("line {line_number}: invalid DogStatsD line")]
    Line {
        /// 1-based line number.
        line_number: usize,
        /// The DogStatsD parser's error.
        source: ParseError,
    },
    /// A line has a type that cannot be evaluated.
    #[error("line {line_number}: unsupported metric")]
    Point {
        /// 1-based line number.
        line_number: usize,
        /// Why.
        source: PointError,
    },
}

/// Reads a capture file's text into points.
///
/// ```
/// use pipeline_telemetry_monitors::capture::parse_capture;
/// let points = parse_capture("1700000000 pipeline.runs:1|c|#pipeline:etl\npipeline.runs:1|c", 0).unwrap();
/// assert_eq!(points.len(), 2);
/// assert_eq!(points[1].timestamp, 1_700_000_000);
/// ```
///
/// # Errors
///
/// For the first bad line (1-based `line_number`):
/// [`CaptureError::Line`] when it is not valid DogStatsD, and
/// [`CaptureError::Point`] when its metric type cannot be evaluated (see
/// [`Point::from_parsed`]).
pub fn parse_capture(text: &str, default_timestamp: u64) -> Result<Vec<Point>, CaptureError> {
    let mut points = Vec::new();
    let mut current = default_timestamp;
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = raw.trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with("_e{")
            || line.starts_with("_sc|")
        {
            continue;
        }
        let (prefix, body) = split_timestamp(line);
        let metric = parse_line(body).map_err(|source| CaptureError::Line {
            line_number,
            source,
        })?;
        if let Some(ts) = prefix.or(metric.timestamp) {
            current = ts;
        }
        let point = Point::from_parsed(&metric, current).map_err(|source| CaptureError::Point {
            line_number,
            source,
        })?;
        points.push(point);
    }
    Ok(points)
}

/// The latest timestamp among `points`.
pub fn latest_timestamp(points: &[Point]) -> Option<u64> {
    points.iter().map(|p| p.timestamp).max()
}

/// Splits `<unix>[.<fraction>] <line>`; metric names never start with a
/// digit, so a leading number followed by a space is a timestamp.
fn split_timestamp(line: &str) -> (Option<u64>, &str) {
    let Some((head, rest)) = line.split_once(char::is_whitespace) else {
        return (None, line);
    };
    let whole = head.split_once('.').map_or(head, |(w, _)| w);
    match whole.parse::<u64>() {
        Ok(ts) if head.chars().all(|c| c.is_ascii_digit() || c == '.') => {
            (Some(ts), rest.trim_start())
        }
        _ => (None, line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::PointKind;

    #[test]
    fn timestamps_come_from_prefix_then_field_then_previous_line() {
        let text = "# a capture\n\n\
                    1700000000.5 pipeline.runs:1|c\n\
                    pipeline.errors:1|c|T1700000100\n\
                    pipeline.stage.duration:3|d\n\
                    _sc|pipeline.up|0\n";
        let points = parse_capture(text, 7).expect("parses");
        let stamps: Vec<u64> = points.iter().map(|p| p.timestamp).collect();
        assert_eq!(stamps, vec![1_700_000_000, 1_700_000_100, 1_700_000_100]);
        assert_eq!(points[2].kind, PointKind::Distribution);
        assert_eq!(latest_timestamp(&points), Some(1_700_000_100));
    }

    #[test]
    fn default_timestamp_is_used_without_any() {
        let points = parse_capture("pipeline.runs:1|c", 42).expect("parses");
        assert_eq!(points[0].timestamp, 42);
    }

    #[test]
    fn reports_the_line_number() {
        let err = parse_capture("pipeline.runs:1|c\nnot a metric", 0).expect_err("must fail");
        assert!(
            matches!(err, CaptureError::Line { line_number: 2, .. }),
            "{err:?}"
        );
    }
}
