//! The generated files committed to the repository.

use crate::dashboard::dashboard_json;
use crate::dashboard_tf::{dashboard_terraform, percentiles_terraform};
use crate::guide::{guide_monitors, Routing};
use crate::logs::{log_pipeline_json, log_pipeline_terraform};
use crate::render::monitors_json;
use crate::terraform::monitors_terraform;

/// The command that regenerates every artifact.
pub const REGENERATE_COMMAND: &str = pipeline_telemetry_catalogue::markdown::REGENERATE_COMMAND;

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Artifact {
    /// Its path from the repository root.
    pub path: &'static str,
    /// Its contents.
    pub contents: String,
}

/// Every generated file, with notifications routed to `routing`.
///
/// ```
/// use pipeline_telemetry_monitors::{artifacts::artifacts, guide::Routing};
/// let paths: Vec<&str> = artifacts(&Routing::default()).iter().map(|a| a.path).collect();
/// assert_eq!(paths, [
///     "dashboards/pipeline.json", "dashboards/pipeline.tf", "dashboards/percentiles.tf",
///     "monitors/monitors.json", "monitors/monitors.tf",
///     "deploy/datadog/logs-pipeline.json", "deploy/datadog/logs-pipeline.tf",
///     "docs/metrics.md",
/// ]);
/// ```
pub fn artifacts(routing: &Routing) -> Vec<Artifact> {
    let monitors = guide_monitors(routing);
    vec![
        Artifact {
            path: "dashboards/pipeline.json",
            contents: dashboard_json(),
        },
        Artifact {
            path: "dashboards/pipeline.tf",
            contents: dashboard_terraform(),
        },
        Artifact {
            path: "dashboards/percentiles.tf",
            contents: percentiles_terraform(),
        },
        Artifact {
            path: "monitors/monitors.json",
            contents: monitors_json(&monitors),
        },
        Artifact {
            path: "monitors/monitors.tf",
            contents: monitors_terraform(&monitors),
        },
        Artifact {
            path: "deploy/datadog/logs-pipeline.json",
            contents: log_pipeline_json(),
        },
        Artifact {
            path: "deploy/datadog/logs-pipeline.tf",
            contents: log_pipeline_terraform(),
        },
        Artifact {
            path: "docs/metrics.md",
            contents: pipeline_telemetry_catalogue::markdown::render(),
        },
    ]
}
