//! The metrics: `spark.job.duration` once per finished job and
//! `spark.executors.active` per poll, named and tagged from the catalogue,
//! through the `metrics` facade (the DogStatsD exporter when
//! `pipeline_telemetry::init()` ran). Tags are bounded: the application
//! name, a job name chosen from the job group or description with a cap on
//! distinct values, and the status.

use std::collections::HashSet;

use pipeline_telemetry_catalogue::{status, tags, SPARK_EXECUTORS_ACTIVE, SPARK_JOB_DURATION};

use crate::api::{ExecutorSummary, JobData, JobStatus};

/// The `job` tag of a job whose naming gives nothing.
pub const UNNAMED_JOB: &str = "none";
/// The `job` tag once the cap on distinct job names is reached.
pub const OTHER_JOB: &str = "other";
/// The longest `job` tag value kept (longer ones are cut).
pub const MAX_JOB_NAME_LEN: usize = 100;

/// The client telemetry: failed polls of the REST API, tagged `reason`.
pub const POLL_ERRORS_METRIC: &str = "pipeline_telemetry.spark.poll_errors";

/// Where the `job` tag of `spark.job.duration` comes from. Never the job id
/// or the call site Spark names jobs after (`count at etl.py:12`): both are
/// unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JobNaming {
    /// The job group (`setJobGroup`), else the description
    /// (`setJobDescription`), else `none`.
    #[default]
    GroupOrDescription,
    /// The job group only, else `none`.
    Group,
    /// The description only, else `none`.
    Description,
}

/// Chooses bounded `job` tag values.
#[derive(Debug)]
pub(crate) struct JobNames {
    naming: JobNaming,
    max: usize,
    seen: HashSet<String>,
}

impl JobNames {
    pub(crate) fn new(naming: JobNaming, max: usize) -> Self {
        JobNames {
            naming,
            max,
            seen: HashSet::new(),
        }
    }

    /// The `job` tag of `job`: at most `max` distinct values, then `other`.
    pub(crate) fn tag(&mut self, job: &JobData) -> String {
        let group = job.job_group.as_deref().filter(|s| !s.trim().is_empty());
        let description = job.description.as_deref().filter(|s| !s.trim().is_empty());
        let chosen = match self.naming {
            JobNaming::GroupOrDescription => group.or(description),
            JobNaming::Group => group,
            JobNaming::Description => description,
        };
        let Some(name) = chosen else {
            return UNNAMED_JOB.to_owned();
        };
        let name: String = name.trim().chars().take(MAX_JOB_NAME_LEN).collect();
        if self.seen.contains(&name) {
            return name;
        }
        if self.seen.len() >= self.max {
            return OTHER_JOB.to_owned();
        }
        self.seen.insert(name.clone());
        name
    }
}

/// `succeeded` / `failed`.
pub(crate) fn status_tag(s: JobStatus) -> &'static str {
    match s {
        JobStatus::Failed => status::FAILED,
        _ => status::SUCCEEDED,
    }
}

/// Records one finished job's duration; false when its times are missing.
pub(crate) fn job_duration(app: &str, job_tag: &str, job: &JobData) -> bool {
    let Some(d) = job.duration() else {
        return false;
    };
    metrics::histogram!(
        SPARK_JOB_DURATION.name,
        tags::APP => app.to_owned(),
        tags::JOB => job_tag.to_owned(),
        tags::STATUS => status_tag(job.status),
    )
    .record(d.as_secs_f64());
    true
}

/// Active executors, the driver excluded (so 0 in local mode, where the
/// driver runs the tasks itself).
pub(crate) fn active_executors(executors: &[ExecutorSummary]) -> u64 {
    executors
        .iter()
        .filter(|e| e.is_active && !e.is_driver())
        .count() as u64
}

pub(crate) fn executors_gauge(app: &str, active: u64) {
    metrics::gauge!(SPARK_EXECUTORS_ACTIVE.name, tags::APP => app.to_owned()).set(active as f64);
}

pub(crate) fn poll_error(reason: &'static str) {
    metrics::counter!(POLL_ERRORS_METRIC, "reason" => reason).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(group: Option<&str>, description: Option<&str>) -> JobData {
        JobData {
            job_group: group.map(str::to_owned),
            description: description.map(str::to_owned),
            name: "count at etl.py:12".to_owned(),
            ..JobData::default()
        }
    }

    #[test]
    fn job_names_are_bounded_and_never_the_call_site() {
        let mut names = JobNames::new(JobNaming::GroupOrDescription, 2);
        assert_eq!(names.tag(&job(Some("load"), Some("d"))), "load");
        assert_eq!(names.tag(&job(None, Some("described"))), "described");
        assert_eq!(names.tag(&job(None, None)), UNNAMED_JOB);
        assert_eq!(names.tag(&job(Some("third"), None)), OTHER_JOB);
        assert_eq!(names.tag(&job(Some("load"), None)), "load");
        let long = "x".repeat(500);
        let mut names = JobNames::new(JobNaming::Description, 10);
        assert_eq!(
            names.tag(&job(Some("g"), Some(&long))).len(),
            MAX_JOB_NAME_LEN
        );
        assert_eq!(names.tag(&job(Some("g"), None)), UNNAMED_JOB);
    }
}
