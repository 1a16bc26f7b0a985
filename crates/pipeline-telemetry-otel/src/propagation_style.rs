//! Which propagation styles are injected and extracted, configured as
//! ddtrace-py 4.x configures them (`ddtrace/internal/settings/_config.py`,
//! `_parse_propagation_styles`).
//!
//! | Variable | Meaning |
//! |---|---|
//! | `DD_TRACE_PROPAGATION_STYLE_EXTRACT` | styles read from an incoming carrier, in order |
//! | `DD_TRACE_PROPAGATION_STYLE_INJECT` | styles written into an outgoing carrier |
//! | `DD_TRACE_PROPAGATION_STYLE` | both, when the specific form is not set |
//! | `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH` | longest `x-datadog-tags` written (default 512, `0` writes none) |
//!
//! Values are comma-separated, case-insensitive: `datadog`, `tracecontext`,
//! `baggage`, `none`. Unknown names (ddtrace's `b3`, `b3multi` included:
//! not supported here) are skipped. The default is ddtrace 4.x's:
//! `datadog,tracecontext,baggage`.
//!
//! The variables are read **once per process**, on the first inject or
//! extract (or the first [`PropagationConfig::configured`] call); later
//! changes of the environment are not seen.

use std::sync::OnceLock;

/// One propagation style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropagationStyle {
    /// `x-datadog-trace-id`, `x-datadog-parent-id`,
    /// `x-datadog-sampling-priority`, `x-datadog-origin`, `x-datadog-tags`.
    Datadog,
    /// W3C `traceparent` and `tracestate`.
    TraceContext,
    /// W3C `baggage` (which carries `pipeline_id`).
    Baggage,
}

impl PropagationStyle {
    /// The style named `name` (trimmed, case-insensitive), if supported.
    ///
    /// ```
    /// use pipeline_telemetry_otel::PropagationStyle;
    /// assert_eq!(PropagationStyle::parse(" DataDog "), Some(PropagationStyle::Datadog));
    /// assert_eq!(PropagationStyle::parse("b3"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "datadog" => Some(Self::Datadog),
            "tracecontext" => Some(Self::TraceContext),
            "baggage" => Some(Self::Baggage),
            _ => None,
        }
    }
}

/// The default style list, as ddtrace 4.x: `datadog,tracecontext,baggage`.
pub const DEFAULT_PROPAGATION_STYLES: [PropagationStyle; 3] = [
    PropagationStyle::Datadog,
    PropagationStyle::TraceContext,
    PropagationStyle::Baggage,
];

/// ddtrace's default `DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH`.
pub const DEFAULT_X_DATADOG_TAGS_MAX_LENGTH: usize = 512;

/// The propagation settings (see the module's table of variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropagationConfig {
    /// Styles read from an incoming carrier, in order: the first one that
    /// gives a context is the primary one.
    pub extract: Vec<PropagationStyle>,
    /// Styles written into an outgoing carrier.
    pub inject: Vec<PropagationStyle>,
    /// Longest `x-datadog-tags` value written; 0 writes none.
    pub x_datadog_tags_max_length: usize,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        PropagationConfig {
            extract: DEFAULT_PROPAGATION_STYLES.to_vec(),
            inject: DEFAULT_PROPAGATION_STYLES.to_vec(),
            x_datadog_tags_max_length: DEFAULT_X_DATADOG_TAGS_MAX_LENGTH,
        }
    }
}

/// Parses a style list as ddtrace does: comma-separated, each trimmed and
/// lower-cased; `none` and empty items are skipped, unknown ones too.
fn parse_styles(value: &str) -> Vec<PropagationStyle> {
    let mut styles = Vec::new();
    for style in value.split(',').filter_map(PropagationStyle::parse) {
        if !styles.contains(&style) {
            styles.push(style);
        }
    }
    styles
}

impl PropagationConfig {
    /// The settings as `lookup` gives the variables (for tests, and for an
    /// environment that is not this process's).
    ///
    /// ```
    /// use pipeline_telemetry_otel::{PropagationConfig, PropagationStyle};
    ///
    /// let config = PropagationConfig::from_lookup(|k| match k {
    ///     "DD_TRACE_PROPAGATION_STYLE" => Some("tracecontext".to_owned()),
    ///     "DD_TRACE_PROPAGATION_STYLE_INJECT" => Some("Datadog, none".to_owned()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.extract, [PropagationStyle::TraceContext]);
    /// assert_eq!(config.inject, [PropagationStyle::Datadog]);
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        // ddtrace: the specific form wins, DD_TRACE_PROPAGATION_STYLE is its alias.
        let styles = |specific: &str| {
            lookup(specific)
                .or_else(|| lookup("DD_TRACE_PROPAGATION_STYLE"))
                .map_or_else(|| DEFAULT_PROPAGATION_STYLES.to_vec(), |v| parse_styles(&v))
        };
        let x_datadog_tags_max_length = lookup("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map_or(DEFAULT_X_DATADOG_TAGS_MAX_LENGTH, |n| {
                usize::try_from(n.max(0)).unwrap_or(0)
            });
        PropagationConfig {
            extract: styles("DD_TRACE_PROPAGATION_STYLE_EXTRACT"),
            inject: styles("DD_TRACE_PROPAGATION_STYLE_INJECT"),
            x_datadog_tags_max_length,
        }
    }

    /// The settings of this process's environment, read now.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The settings this process uses: [`PropagationConfig::from_env`],
    /// read on the first call and kept.
    pub fn configured() -> &'static PropagationConfig {
        static CONFIG: OnceLock<PropagationConfig> = OnceLock::new();
        CONFIG.get_or_init(Self::from_env)
    }

    /// True when `style` is extracted.
    pub fn extracts(&self, style: PropagationStyle) -> bool {
        self.extract.contains(&style)
    }

    /// True when `style` is injected.
    pub fn injects(&self, style: PropagationStyle) -> bool {
        self.inject.contains(&style)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PropagationStyle::*;

    fn config(pairs: &[(&str, &str)]) -> PropagationConfig {
        PropagationConfig::from_lookup(|k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn default_is_ddtrace_4s() {
        assert_eq!(config(&[]), PropagationConfig::default());
        assert_eq!(config(&[]).extract, [Datadog, TraceContext, Baggage]);
    }

    #[test]
    fn specific_forms_win_over_the_general_one() {
        let c = config(&[
            ("DD_TRACE_PROPAGATION_STYLE", "datadog"),
            (
                "DD_TRACE_PROPAGATION_STYLE_EXTRACT",
                "TRACECONTEXT , baggage",
            ),
        ]);
        assert_eq!(c.extract, [TraceContext, Baggage]);
        assert_eq!(c.inject, [Datadog]);
    }

    #[test]
    fn none_unknown_and_empty_give_nothing() {
        let c = config(&[("DD_TRACE_PROPAGATION_STYLE", "none,b3,,")]);
        assert!(c.extract.is_empty() && c.inject.is_empty());
        let c = config(&[("DD_TRACE_PROPAGATION_STYLE", "")]);
        assert!(c.extract.is_empty());
    }

    #[test]
    fn tags_length_is_clamped() {
        let c = config(&[("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "-3")]);
        assert_eq!(c.x_datadog_tags_max_length, 0);
        let c = config(&[("DD_TRACE_X_DATADOG_TAGS_MAX_LENGTH", "x")]);
        assert_eq!(c.x_datadog_tags_max_length, 512);
    }
}
