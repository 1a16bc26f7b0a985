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

    proptest::proptest! {
        /// Spark's list is a window over ids that only moves forward; a
        /// job finishes once and stays finished; some answers lose
        /// elements (malformed). Every job seen finished is reported
        /// exactly once, and the state never outgrows one answer.
        #[test]
        fn each_job_once_and_bounded_state(
            finish_at in proptest::collection::vec(proptest::option::of(0usize..12), 1..60),
            windows in proptest::collection::vec((0usize..8, 1usize..30, proptest::bool::ANY), 1..12),
        ) {
            let n = finish_at.len();
            let mut t = JobTracker::default();
            let mut reported = vec![0u32; n];
            let mut seen_finished = vec![false; n];
            let (mut lo, mut hi) = (0usize, 0usize);
            for (poll, (step, width, lossy)) in windows.into_iter().enumerate() {
                lo = (lo + step).min(n - 1);
                hi = hi.max(lo + width).min(n);
                let jobs: Vec<JobData> = (lo..hi)
                    .rev()
                    .filter(|i| !(lossy && i % 3 == 0))
                    .map(|i| {
                        let done = finish_at[i].is_some_and(|f| f <= poll);
                        job(i as u64, if done { JobStatus::Succeeded } else { JobStatus::Running })
                    })
                    .collect();
                for j in &jobs {
                    if j.status.is_finished() {
                        seen_finished[j.job_id as usize] = true;
                    }
                }
                for j in t.newly_finished(&jobs, !lossy) {
                    reported[j.job_id as usize] += 1;
                }
                if !lossy {
                    proptest::prop_assert!(t.len() <= jobs.len());
                }
            }
            for i in 0..n {
                proptest::prop_assert_eq!(reported[i], u32::from(seen_finished[i]), "job {}", i);
            }
        }
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
