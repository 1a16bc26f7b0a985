//! Rendering queries back to Datadog syntax.

use std::fmt;

use super::{
    ChangeKind, Evaluation, MetricQuery, MonitorQuery, SpaceAggregation, TagFilter,
    TimeAggregation, TypeModifier, Window,
};

impl fmt::Display for SpaceAggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceAggregation::Avg => f.write_str("avg"),
            SpaceAggregation::Sum => f.write_str("sum"),
            SpaceAggregation::Min => f.write_str("min"),
            SpaceAggregation::Max => f.write_str("max"),
            SpaceAggregation::Count => f.write_str("count"),
            SpaceAggregation::Percentile(p) => write!(f, "p{p}"),
        }
    }
}

impl fmt::Display for TimeAggregation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeAggregation::Avg => "avg",
            TimeAggregation::Sum => "sum",
            TimeAggregation::Min => "min",
            TimeAggregation::Max => "max",
            TimeAggregation::Percentile => "percentile",
        })
    }
}

impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagFilter::All => f.write_str("*"),
            TagFilter::Tag {
                key,
                value,
                negated,
            } => {
                write!(f, "{}{key}:{value}", if *negated { "!" } else { "" })
            }
            TagFilter::Bare { tag, negated } => {
                write!(f, "{}{tag}", if *negated { "!" } else { "" })
            }
            TagFilter::TemplateVariable(name) => write!(f, "${name}"),
        }
    }
}

impl fmt::Display for MetricQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}{{", self.space, self.metric)?;
        for (i, filter) in self.filters.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{filter}")?;
        }
        f.write_str("}")?;
        if !self.group_by.is_empty() {
            write!(f, " by {{{}}}", self.group_by.join(","))?;
        }
        match self.modifier {
            Some(TypeModifier::AsCount) => f.write_str(".as_count()"),
            Some(TypeModifier::AsRate) => f.write_str(".as_rate()"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit)
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Evaluation::Threshold {
                aggregation,
                window,
            } => write!(f, "{aggregation}(last_{window})"),
            Evaluation::Change {
                kind,
                aggregation,
                window,
                shift,
                shorthand,
            } => {
                let name = match kind {
                    ChangeKind::Absolute => "change",
                    ChangeKind::Percent => "pct_change",
                };
                if shorthand {
                    write!(f, "{name}(last_{window})")
                } else {
                    write!(f, "{name}({aggregation}(last_{window}),{shift}_ago)")
                }
            }
        }
    }
}

impl fmt::Display for MonitorQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} {} {}",
            self.evaluation,
            self.metric,
            self.comparator.as_str(),
            self.threshold
        )
    }
}
