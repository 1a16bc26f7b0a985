//! Which finished jobs were already reported: each finished job is reported
//! once, however many polls see it, with state bounded by what the API
//! still lists.

use std::collections::HashSet;

use crate::api::JobData;

/// Job ids below `low` are settled (reported, or gone from the API for
/// good); `done` holds the reported ids at or above it. After a complete
/// list, `done` keeps only ids the API still lists (Spark keeps
/// `spark.ui.retainedJobs`, 1000 by default), so it never outgrows one
/// response.
#[derive(Debug, Default)]
pub(crate) struct JobTracker {
    low: u64,
    done: HashSet<u64>,
}

impl JobTracker {
    /// The jobs of `jobs` that finished since the last call, each returned
    /// once. `complete` says every element of the response parsed: only
    /// then is state the API no longer lists forgotten (a job skipped as
    /// malformed now must not be reported again when it parses later).
    pub(crate) fn newly_finished<'a>(
        &mut self,
        jobs: &'a [JobData],
        complete: bool,
    ) -> Vec<&'a JobData> {
        let mut new = Vec::new();
        for job in jobs {
            if job.status.is_finished() && job.job_id >= self.low && self.done.insert(job.job_id) {
                new.push(job);
            }
        }
        if complete {
            if let Some(min) = jobs.iter().map(|j| j.job_id).min() {
                // Ids below the oldest listed one are settled: Spark
                // assigns ids in order and never lists an evicted job again.
                self.low = self.low.max(min);
            }
            let listed: HashSet<u64> = jobs.iter().map(|j| j.job_id).collect();
            let low = self.low;
            self.done.retain(|id| *id >= low && listed.contains(id));
        }
        new
    }

    /// How many job ids are remembered.
    pub(crate) fn len(&self) -> usize {
        self.done.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::JobStatus;

    fn job(id: u64, status: JobStatus) -> JobData {
        JobData {
            job_id: id,
            status,
            ..JobData::default()
        }
    }

    fn ids(v: Vec<&JobData>) -> Vec<u64> {
        v.into_iter().map(|j| j.job_id).collect()
    }

    #[test]
    fn each_finished_job_once_in_any_order() {
        let mut t = JobTracker::default();
        let poll1 = [
            job(2, JobStatus::Succeeded),
            job(1, JobStatus::Running),
            job(0, JobStatus::Failed),
        ];
        assert_eq!(ids(t.newly_finished(&poll1, true)), vec![2, 0]);
        assert_eq!(ids(t.newly_finished(&poll1, true)), Vec::<u64>::new());
        let poll2 = [
            job(3, JobStatus::Running),
            job(2, JobStatus::Succeeded),
            job(1, JobStatus::Succeeded),
        ];
        assert_eq!(ids(t.newly_finished(&poll2, true)), vec![1]);
        // Job 0 is no longer listed: forgotten, and never reported again.
        assert_eq!(t.len(), 2);
        assert_eq!(ids(t.newly_finished(&poll1, true)), Vec::<u64>::new());
    }

    #[test]
    fn an_incomplete_list_forgets_nothing() {
        let mut t = JobTracker::default();
        let all = [job(1, JobStatus::Succeeded), job(0, JobStatus::Succeeded)];
        assert_eq!(ids(t.newly_finished(&all, true)), vec![1, 0]);
        // Job 1 failed to parse this time.
        assert_eq!(ids(t.newly_finished(&all[1..], false)), Vec::<u64>::new());
        assert_eq!(ids(t.newly_finished(&all, true)), Vec::<u64>::new());
    }
}
