//! The metric-alert query language: types and their rendering.
//!
//! A [`MetricQuery`] is what a dashboard graphs
//! (`p95:pipeline.stage.duration{$env} by {stage}`); a [`MonitorQuery`]
//! wraps one in a time aggregation and a threshold
//! (`avg(last_10m):avg:pipeline.stage.duration{stage:spark} > 5`).
//! Rendering with `Display` gives the exact Datadog syntax back, and
//! [`crate::parse`] reads it.

mod display;

/// How the series of a group are combined at each timestamp.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum SpaceAggregation {
    /// `avg`
    Avg,
    /// `sum`
    Sum,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `count` (distributions: the number of samples)
    Count,
    /// `pNN` (distributions only), e.g. `p95` is `Percentile(95.0)`.
    Percentile(f64),
}

/// How the points of the evaluation window are combined into one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeAggregation {
    /// `avg`
    Avg,
    /// `sum`
    Sum,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `percentile`: the space aggregation's percentile over every sample
    /// of the window (distributions only).
    Percentile,
}

/// `.as_count()` / `.as_rate()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeModifier {
    /// `.as_count()`: count metrics read as counts per flush interval.
    AsCount,
    /// `.as_rate()`: count metrics read per second.
    AsRate,
}

/// One element of the `{...}` scope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagFilter {
    /// `*`: everything.
    All,
    /// `key:value` (the value may end in or contain `*`), or `!key:value`.
    Tag {
        /// The tag key.
        key: String,
        /// The value pattern.
        value: String,
        /// Whether it was negated with `!` or `-`.
        negated: bool,
    },
    /// A bare tag without a value, such as `production`.
    Bare {
        /// The tag.
        tag: String,
        /// Whether it was negated.
        negated: bool,
    },
    /// A dashboard template variable such as `$env`.
    TemplateVariable(String),
}

/// `space_aggr:metric{scope} [by {keys}][.as_count()]`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricQuery {
    /// The space aggregation.
    pub space: SpaceAggregation,
    /// The metric name.
    pub metric: String,
    /// The scope; `[All]` for `{*}`.
    pub filters: Vec<TagFilter>,
    /// The `by {...}` tag keys (empty for none).
    pub group_by: Vec<String>,
    /// An optional type modifier.
    pub modifier: Option<TypeModifier>,
}

impl MetricQuery {
    /// A query over every series of `metric` (`{*}`), without grouping.
    ///
    /// ```
    /// use pipeline_telemetry_monitors::query::{MetricQuery, SpaceAggregation};
    /// let q = MetricQuery::new(SpaceAggregation::Sum, "pipeline.errors").by("stage");
    /// assert_eq!(q.to_string(), "sum:pipeline.errors{*} by {stage}");
    /// ```
    pub fn new(space: SpaceAggregation, metric: impl Into<String>) -> Self {
        MetricQuery {
            space,
            metric: metric.into(),
            filters: vec![TagFilter::All],
            group_by: Vec::new(),
            modifier: None,
        }
    }

    /// Adds a `key:value` filter (replacing `*`).
    pub fn filter(mut self, key: &str, value: &str) -> Self {
        self.filters.retain(|f| *f != TagFilter::All);
        self.filters.push(TagFilter::Tag {
            key: key.to_owned(),
            value: value.to_owned(),
            negated: false,
        });
        self
    }

    /// Adds a `$name` template variable to the scope (replacing `*`).
    pub fn template_variable(mut self, name: &str) -> Self {
        self.filters.retain(|f| *f != TagFilter::All);
        self.filters
            .push(TagFilter::TemplateVariable(name.to_owned()));
        self
    }

    /// Adds a `by {key}` grouping.
    pub fn by(mut self, key: &str) -> Self {
        self.group_by.push(key.to_owned());
        self
    }

    /// Sets a type modifier.
    pub fn with_modifier(mut self, modifier: TypeModifier) -> Self {
        self.modifier = Some(modifier);
        self
    }
}

/// A window such as `last_10m`, in seconds, remembering its spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The number before the unit.
    pub amount: u64,
    /// `m`, `h`, `d` or `w`.
    pub unit: char,
}

impl Window {
    /// `last_<minutes>m`.
    pub const fn minutes(amount: u64) -> Self {
        Window { amount, unit: 'm' }
    }

    /// The length in seconds.
    pub const fn seconds(self) -> u64 {
        let per = match self.unit {
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => 60,
        };
        self.amount * per
    }
}

/// `change` or `pct_change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeKind {
    /// `change`: now minus then.
    Absolute,
    /// `pct_change`: 100 × (now − then) / then.
    Percent,
}

/// The part before the first `:` of a monitor query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Evaluation {
    /// `avg(last_5m)`, `sum(last_5m)`, ...
    Threshold {
        /// The time aggregation.
        aggregation: TimeAggregation,
        /// The evaluation window.
        window: Window,
    },
    /// `change(avg(last_10m),10m_ago)`, or the shorthand `change(last_10m)`,
    /// which compares the window with the window just before it.
    Change {
        /// Absolute or relative change.
        kind: ChangeKind,
        /// The time aggregation applied to the differences.
        aggregation: TimeAggregation,
        /// The evaluation window.
        window: Window,
        /// How far back the compared series is shifted.
        shift: Window,
        /// Whether it was written as `change(last_Nm)`.
        shorthand: bool,
    },
}

impl Evaluation {
    /// The evaluation window.
    pub const fn window(&self) -> Window {
        match *self {
            Evaluation::Threshold { window, .. } | Evaluation::Change { window, .. } => window,
        }
    }
}

/// `<`, `<=`, `>`, `>=`, `==`, `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Comparator {
    /// `>`
    Above,
    /// `>=`
    AboveOrEqual,
    /// `<`
    Below,
    /// `<=`
    BelowOrEqual,
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
}

impl Comparator {
    /// Whether `value <op> threshold` holds.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparator::Above => value > threshold,
            Comparator::AboveOrEqual => value >= threshold,
            Comparator::Below => value < threshold,
            Comparator::BelowOrEqual => value <= threshold,
            Comparator::Equal => value == threshold,
            Comparator::NotEqual => value != threshold,
        }
    }

    /// The operator as written.
    pub const fn as_str(self) -> &'static str {
        match self {
            Comparator::Above => ">",
            Comparator::AboveOrEqual => ">=",
            Comparator::Below => "<",
            Comparator::BelowOrEqual => "<=",
            Comparator::Equal => "==",
            Comparator::NotEqual => "!=",
        }
    }
}

/// A whole metric-alert query: `<evaluation>:<metric query> <op> <threshold>`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MonitorQuery {
    /// Threshold or change evaluation, with its window.
    pub evaluation: Evaluation,
    /// What is measured.
    pub metric: MetricQuery,
    /// The comparison.
    pub comparator: Comparator,
    /// The critical threshold.
    pub threshold: f64,
}

impl MonitorQuery {
    /// Assembles a query.
    ///
    /// ```
    /// use pipeline_telemetry_monitors::query::*;
    /// let q = MonitorQuery::new(
    ///     Evaluation::Threshold { aggregation: TimeAggregation::Sum, window: Window::minutes(5) },
    ///     MetricQuery::new(SpaceAggregation::Sum, "pipeline.errors"),
    ///     Comparator::Above,
    ///     0.0,
    /// );
    /// assert_eq!(q.to_string(), "sum(last_5m):sum:pipeline.errors{*} > 0");
    /// ```
    pub fn new(
        evaluation: Evaluation,
        metric: MetricQuery,
        comparator: Comparator,
        threshold: f64,
    ) -> Self {
        MonitorQuery {
            evaluation,
            metric,
            comparator,
            threshold,
        }
    }
}
