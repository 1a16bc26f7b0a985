//! The metrics: `spark.job.duration` once per finished job and
//! `spark.executors.active` per poll, named and tagged from the catalogue,
//! through the `metrics` facade (the DogStatsD exporter when
//! `pipeline_telemetry::init()` ran). Tags are bounded for the life of the
//! process, whatever number of monitors and applications it watches: the
//! application name (never its id) and the job name each come from a
//! process-wide set of at most a cap of distinct values, and the status.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use pipeline_telemetry_catalogue::{status, tags, SPARK_EXECUTORS_ACTIVE, SPARK_JOB_DURATION};

use crate::api::{ExecutorSummary, JobData, JobStatus};

/// The `job` tag of a job whose naming gives nothing.
pub const UNNAMED_JOB: &str = "none";
/// The `job` tag once the cap on distinct job names is reached.
pub const OTHER_JOB: &str = "other";
/// The longest `job` (and `app_name`) tag value kept (longer ones are cut).
pub const MAX_JOB_NAME_LEN: usize = 100;
/// The `app_name` tag of an application without a name (never its id,
/// which is new with every run).
pub const UNNAMED_APP: &str = "none";
/// The `app_name` tag once [`MAX_APP_NAMES`] distinct names were tagged in
/// this process.
pub const OTHER_APP: &str = "other";
/// Distinct `app_name` tag values one process emits, across all its
/// monitors; later names are tagged [`OTHER_APP`].
pub const MAX_APP_NAMES: usize = 100;

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

/// The tag values given out so far, shared by every monitor of the
/// process: a value is admitted while fewer than the cap are.
#[derive(Debug)]
pub(crate) struct TagValues(Mutex<BTreeSet<String>>);

impl TagValues {
    pub(crate) const fn new() -> Self {
        TagValues(Mutex::new(BTreeSet::new()))
    }

    /// `value` when it was given out before or fewer than `max` values
    /// were, else `other`.
    fn admit(&self, value: String, max: usize, other: &str) -> String {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(&value) {
            return value;
        }
        if seen.len() >= max {
            return other.to_owned();
        }
        seen.insert(value.clone());
        value
    }
}

/// The `job` tag values of this process.
pub(crate) static JOB_NAMES: TagValues = TagValues::new();
/// The `app_name` tag values of this process.
pub(crate) static APP_NAMES: TagValues = TagValues::new();

fn cut(name: &str) -> String {
    name.trim().chars().take(MAX_JOB_NAME_LEN).collect()
}

/// The `app_name` tag of an application named `name`: [`UNNAMED_APP`]
/// without a name, at most [`MAX_APP_NAMES`] distinct values per process.
pub(crate) fn app_tag(values: &TagValues, name: &str) -> String {
    if name.trim().is_empty() {
        return UNNAMED_APP.to_owned();
    }
    values.admit(cut(name), MAX_APP_NAMES, OTHER_APP)
}

/// Chooses bounded `job` tag values.
#[derive(Debug)]
pub(crate) struct JobNames {
    naming: JobNaming,
    max: usize,
    values: &'static TagValues,
}

impl JobNames {
    pub(crate) fn new(naming: JobNaming, max: usize, values: &'static TagValues) -> Self {
        JobNames {
            naming,
            max,
            values,
        }
    }

    /// The `job` tag of `job`: a name given out before in this process,
    /// else a new one while fewer than `max` were, else `other`.
    pub(crate) fn tag(&self, job: &JobData) -> String {
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
        self.values.admit(cut(name), self.max, OTHER_JOB)
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
        tags::APP_NAME => app.to_owned(),
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
    metrics::gauge!(SPARK_EXECUTORS_ACTIVE.name, tags::APP_NAME => app.to_owned())
        .set(active as f64);
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

    fn fresh() -> &'static TagValues {
        Box::leak(Box::new(TagValues::new()))
    }

    #[test]
    fn job_names_are_bounded_and_never_the_call_site() {
        let names = JobNames::new(JobNaming::GroupOrDescription, 2, fresh());
        assert_eq!(names.tag(&job(Some("load"), Some("d"))), "load");
        assert_eq!(names.tag(&job(None, Some("described"))), "described");
        assert_eq!(names.tag(&job(None, None)), UNNAMED_JOB);
        assert_eq!(names.tag(&job(Some("third"), None)), OTHER_JOB);
        assert_eq!(names.tag(&job(Some("load"), None)), "load");
        let long = "x".repeat(500);
        let names = JobNames::new(JobNaming::Description, 10, fresh());
        assert_eq!(
            names.tag(&job(Some("g"), Some(&long))).len(),
            MAX_JOB_NAME_LEN
        );
        assert_eq!(names.tag(&job(Some("g"), None)), UNNAMED_JOB);
    }

    #[test]
    fn the_cap_holds_across_monitors_of_one_process() {
        let values = fresh();
        let first = JobNames::new(JobNaming::Group, 2, values);
        assert_eq!(first.tag(&job(Some("a"), None)), "a");
        assert_eq!(first.tag(&job(Some("b"), None)), "b");
        // A second monitor (a new run, a new application) gets no new room.
        let second = JobNames::new(JobNaming::Group, 2, values);
        assert_eq!(second.tag(&job(Some("c"), None)), OTHER_JOB);
        assert_eq!(second.tag(&job(Some("a"), None)), "a");
    }

    #[test]
    fn app_names_are_bounded_and_never_the_id() {
        let values = fresh();
        assert_eq!(app_tag(values, ""), UNNAMED_APP);
        assert_eq!(app_tag(values, "  "), UNNAMED_APP);
        for i in 0..MAX_APP_NAMES {
            assert_eq!(app_tag(values, &format!("etl-{i}")), format!("etl-{i}"));
        }
        assert_eq!(app_tag(values, "one-too-many"), OTHER_APP);
        assert_eq!(app_tag(values, "etl-0"), "etl-0");
    }
}
