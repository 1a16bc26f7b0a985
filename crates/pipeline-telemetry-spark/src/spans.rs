//! Spark jobs as spans: one backdated span per finished job, child of the
//! span that was current when the monitor started (the spark stage), with
//! the job's real submission and completion times.

use opentelemetry::trace::SpanKind;
use pipeline_telemetry_otel::CompletedSpan;

use crate::api::{JobData, JobStatus};

/// The span name of a Spark job (also its `operation.name`).
pub const JOB_SPAN_NAME: &str = "spark.job";
/// The longest failure reason kept on a span (Spark's include stack traces).
pub const MAX_FAILURE_REASON_LEN: usize = 4096;

/// Attribute keys of job spans (no semantic convention covers Spark).
pub mod attributes {
    /// The application id.
    pub const APP_ID: &str = "spark.app.id";
    /// The application name.
    pub const APP_NAME: &str = "spark.app.name";
    /// The job id.
    pub const JOB_ID: &str = "spark.job.id";
    /// `SUCCEEDED` / `FAILED`.
    pub const JOB_STATUS: &str = "spark.job.status";
    /// The job's call site (`count at etl.py:12`).
    pub const JOB_CALL_SITE: &str = "spark.job.call_site";
    /// The job group, if any.
    pub const JOB_GROUP: &str = "spark.job.group";
    /// The job description, if any.
    pub const JOB_DESCRIPTION: &str = "spark.job.description";
    /// Tasks of the job.
    pub const TASKS: &str = "spark.job.tasks";
    /// Tasks that completed.
    pub const TASKS_COMPLETED: &str = "spark.job.tasks.completed";
    /// Tasks that failed.
    pub const TASKS_FAILED: &str = "spark.job.tasks.failed";
    /// Tasks that were skipped.
    pub const TASKS_SKIPPED: &str = "spark.job.tasks.skipped";
    /// Tasks that were killed.
    pub const TASKS_KILLED: &str = "spark.job.tasks.killed";
    /// Stages that failed.
    pub const STAGES_FAILED: &str = "spark.job.stages.failed";
    /// Why the job failed (its first failed stage's reason).
    pub const FAILURE_REASON: &str = "spark.job.failure_reason";
}

fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The span of a finished job, `None` when its times are missing.
pub(crate) fn job_span(
    app_id: &str,
    app_name: &str,
    job_tag: &str,
    job: &JobData,
    failure_reason: Option<&str>,
) -> Option<CompletedSpan> {
    use attributes as a;
    let (start, end) = (job.submission_time?, job.completion_time?);
    let status = match job.status {
        JobStatus::Failed => "FAILED",
        _ => "SUCCEEDED",
    };
    let mut span = CompletedSpan::new(JOB_SPAN_NAME, start, end)
        .with_kind(SpanKind::Internal)
        .with_attribute("operation.name", JOB_SPAN_NAME)
        .with_attribute("resource.name", job_tag.to_owned())
        .with_attribute(a::APP_ID, app_id.to_owned())
        .with_attribute(a::APP_NAME, app_name.to_owned())
        .with_attribute(a::JOB_ID, int(job.job_id))
        .with_attribute(a::JOB_STATUS, status)
        .with_attribute(a::JOB_CALL_SITE, job.name.clone())
        .with_attribute(a::TASKS, int(job.num_tasks))
        .with_attribute(a::TASKS_COMPLETED, int(job.num_completed_tasks))
        .with_attribute(a::TASKS_FAILED, int(job.num_failed_tasks))
        .with_attribute(a::TASKS_SKIPPED, int(job.num_skipped_tasks))
        .with_attribute(a::TASKS_KILLED, int(job.num_killed_tasks))
        .with_attribute(a::STAGES_FAILED, int(job.num_failed_stages));
    if let Some(g) = &job.job_group {
        span = span.with_attribute(a::JOB_GROUP, g.clone());
    }
    if let Some(d) = &job.description {
        span = span.with_attribute(a::JOB_DESCRIPTION, d.clone());
    }
    if job.status == JobStatus::Failed {
        let reason = failure_reason.unwrap_or("the Spark job failed");
        let first_line = reason.lines().next().unwrap_or(reason);
        span = span
            .with_attribute(a::FAILURE_REASON, cut(reason, MAX_FAILURE_REASON_LEN))
            .with_error(cut(first_line, MAX_FAILURE_REASON_LEN));
    }
    Some(span)
}
