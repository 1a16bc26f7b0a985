//! Renders the catalogue as the Markdown page `docs/metrics.md`.

use std::fmt::Write as _;

use crate::{MetricDef, MetricKind, ALL, UNIFIED_SERVICE_TAGS};

/// The command that regenerates `docs/metrics.md`.
pub const REGENERATE_COMMAND: &str = "cargo run -p pipeline-telemetry-cli -- generate";

/// Renders `docs/metrics.md` from [`ALL`].
///
/// The output is deterministic, so a test can compare the committed file
/// with it.
///
/// ```
/// let page = pipeline_telemetry_catalogue::markdown::render();
/// assert!(page.starts_with("# Metric catalogue"));
/// assert!(page.contains("| `pipeline.stage.duration` | distribution (`d`) |"));
/// ```
pub fn render() -> String {
    render_metrics(ALL)
}

/// Renders the page for any list of metrics (what [`render`] does with
/// [`ALL`]).
pub fn render_metrics(metrics: &[&MetricDef]) -> String {
    let mut out = String::new();
    out.push_str("# Metric catalogue\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the pipeline-telemetry-catalogue crate by `{REGENERATE_COMMAND}`. Do not edit by hand. -->\n"
    );
    out.push_str(
        "Every metric pipeline-telemetry emits, as declared in the \
         `pipeline-telemetry-catalogue` crate. The emitting code, the dashboard \
         (`dashboards/pipeline.json`) and the monitors (`monitors/`) are all \
         generated from the same declarations, so the names below are exactly \
         the names on the wire.\n\n",
    );
    out.push_str(
        "| metric | type on the wire | type in Datadog | unit | tags | layer | meaning |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for m in metrics {
        let _ = writeln!(
            out,
            "| `{}` | {} (`{}`) | {} | {} | {} | {} | {} |",
            m.name,
            m.kind.datadog_type(),
            m.kind.wire_type(),
            m.kind.in_app_type(),
            m.unit,
            tag_list(m.tags),
            m.layer,
            m.description
        );
    }
    out.push('\n');
    out.push_str("## Tags on every metric\n\n");
    let _ = writeln!(
        out,
        "Every metric also carries the unified service tags {} (from `DD_SERVICE`, \
         `DD_ENV`, `DD_VERSION`), whatever `DD_TAGS` holds, and `host`, which the \
         Agent adds.\n",
        tag_list(UNIFIED_SERVICE_TAGS)
    );
    out.push_str(
        "`pipeline_id` is not a metric tag by default: one value per run would \
         create one time series per run. It is on spans and log lines instead.\n\n",
    );
    out.push_str("## How each type reads in Datadog\n\n");
    for kind in [
        MetricKind::Count,
        MetricKind::Gauge,
        MetricKind::Distribution,
    ] {
        let _ = writeln!(
            out,
            "- **{}** (`{}`): {}",
            kind.datadog_type(),
            kind.wire_type(),
            kind_note(kind)
        );
    }
    out
}

fn tag_list(tags: &[&str]) -> String {
    if tags.is_empty() {
        return "none".to_owned();
    }
    tags.iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kind_note(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Count => {
            "the Agent sums the increments of each 10 s flush interval and stores \
             them as a per-second rate; use `.as_count()` to read counts per \
             interval. After the last increment the Agent keeps reporting 0 for \
             `dogstatsd_expiry_seconds` (300 s by default), then the series stops."
        }
        MetricKind::Gauge => "the last value of each flush interval is kept.",
        MetricKind::Distribution => {
            "every sample is kept and aggregated globally, so `avg:`, `max:`, \
             `p50:`, `p95:` ... work on the bare metric name across hosts."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_a_row() {
        let page = render();
        for m in ALL {
            assert!(page.contains(&format!("| `{}` |", m.name)), "{}", m.name);
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        assert_eq!(render(), render());
    }
}
