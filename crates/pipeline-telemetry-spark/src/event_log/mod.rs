//! The jobs of a finished application, from its event log
//! (`spark.eventLog.enabled=true`): what the monitor's final read uses when
//! the application's UI went away with it (a `spark-submit` that ended
//! before the next poll). The event log is what Spark's history server
//! rebuilds its REST answers from; the jobs read here carry the same
//! fields as the REST API's (`JobData`).

mod find;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::api::{JobData, JobStatus};

pub(crate) use find::{find, Found};

/// The longest event log read (bytes): beyond it the rest is ignored.
pub(crate) const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;
/// The longest line kept (a task end with many accumulators is a few KB).
const MAX_LINE_BYTES: usize = 4 * 1024 * 1024;

/// One application's jobs, as its event log has them.
#[derive(Debug, Default)]
pub(crate) struct LoggedApp {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) jobs: Vec<JobData>,
    /// The failure reason of each failed stage.
    pub(crate) reasons: HashMap<u64, String>,
}

/// The files of a log one after the other, a line end after each (a line
/// ends with its file, whole or not), each opened when reached.
struct Concat<'a> {
    files: std::slice::Iter<'a, PathBuf>,
    current: Option<File>,
    /// The line end after a file is still to give.
    newline: bool,
}

impl Read for Concat<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.newline {
                let Some(first) = buf.first_mut() else {
                    return Ok(0);
                };
                self.newline = false;
                *first = b'\n';
                return Ok(1);
            }
            match &mut self.current {
                Some(file) => match file.read(buf)? {
                    0 => {
                        self.current = None;
                        self.newline = true;
                    }
                    n => return Ok(n),
                },
                None => match self.files.next() {
                    Some(path) => self.current = Some(File::open(path)?),
                    None => return Ok(0),
                },
            }
        }
    }
}

fn millis(v: &Value) -> Option<SystemTime> {
    let ms = v.as_u64()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads the jobs of the log in `files`, one after the other (a rolling
/// log's event files in order). Lines that do not parse are skipped (a log
/// cut by a crash still gives the jobs it has).
pub(crate) fn read(files: &[PathBuf]) -> std::io::Result<LoggedApp> {
    let all = Concat {
        files: files.iter(),
        current: None,
        newline: false,
    };
    let mut app = LoggedApp::default();
    let mut index: HashMap<u64, usize> = HashMap::new();
    // Stage id -> the job it belongs to.
    let mut stage_job: HashMap<u64, usize> = HashMap::new();
    // Tasks of each stage, and the stages that ran: a job's stages that
    // never ran were skipped (their output was computed before).
    let mut stage_tasks: HashMap<u64, u64> = HashMap::new();
    let mut submitted: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut reader = BufReader::new(all.take(MAX_LOG_BYTES));
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.len() > MAX_LINE_BYTES {
            continue;
        }
        let Ok(e) = serde_json::from_slice::<Value>(&line) else {
            continue;
        };
        match e["Event"].as_str().unwrap_or_default() {
            "SparkListenerApplicationStart" => {
                app.id = e["App ID"].as_str().unwrap_or_default().to_owned();
                app.name = e["App Name"].as_str().unwrap_or_default().to_owned();
            }
            "SparkListenerJobStart" => {
                let Some(id) = e["Job ID"].as_u64() else {
                    continue;
                };
                let stages = e["Stage Infos"].as_array().cloned().unwrap_or_default();
                // Spark names a job after its last stage.
                let last = stages.iter().max_by_key(|s| s["Stage ID"].as_u64());
                let job = JobData {
                    job_id: id,
                    name: last
                        .and_then(|s| text(&s["Stage Name"]))
                        .unwrap_or_default(),
                    description: text(&e["Properties"]["spark.job.description"]),
                    job_group: text(&e["Properties"]["spark.jobGroup.id"]),
                    submission_time: millis(&e["Submission Time"]),
                    stage_ids: stages
                        .iter()
                        .filter_map(|s| s["Stage ID"].as_u64())
                        .collect(),
                    status: JobStatus::Running,
                    num_tasks: stages
                        .iter()
                        .filter_map(|s| s["Number of Tasks"].as_u64())
                        .sum(),
                    ..JobData::default()
                };
                let at = app.jobs.len();
                for s in &stages {
                    if let Some(id) = s["Stage ID"].as_u64() {
                        stage_job.insert(id, at);
                        stage_tasks.insert(id, s["Number of Tasks"].as_u64().unwrap_or(0));
                    }
                }
                index.insert(id, at);
                app.jobs.push(job);
            }
            "SparkListenerJobEnd" => {
                let Some(job) = e["Job ID"]
                    .as_u64()
                    .and_then(|id| index.get(&id))
                    .and_then(|at| app.jobs.get_mut(*at))
                else {
                    continue;
                };
                job.completion_time = millis(&e["Completion Time"]);
                job.status = match e["Job Result"]["Result"].as_str() {
                    Some("JobSucceeded") => JobStatus::Succeeded,
                    _ => JobStatus::Failed,
                };
            }
            "SparkListenerTaskEnd" => {
                let Some(job) = e["Stage ID"]
                    .as_u64()
                    .and_then(|s| stage_job.get(&s))
                    .and_then(|at| app.jobs.get_mut(*at))
                else {
                    continue;
                };
                // Counted as Spark's own status store counts them
                // (`AppStatusListener.onTaskEnd`).
                match e["Task End Reason"]["Reason"].as_str() {
                    Some("Success") => job.num_completed_tasks += 1,
                    Some("TaskKilled" | "TaskCommitDenied") => job.num_killed_tasks += 1,
                    _ => job.num_failed_tasks += 1,
                }
            }
            "SparkListenerStageSubmitted" => {
                if let Some(id) = e["Stage Info"]["Stage ID"].as_u64() {
                    submitted.insert(id);
                }
            }
            "SparkListenerStageCompleted" => {
                let info = &e["Stage Info"];
                let (Some(stage), Some(reason)) =
                    (info["Stage ID"].as_u64(), text(&info["Failure Reason"]))
                else {
                    continue;
                };
                if let Some(job) = stage_job.get(&stage).and_then(|at| app.jobs.get_mut(*at)) {
                    job.num_failed_stages += 1;
                }
                app.reasons.insert(stage, reason);
            }
            _ => {}
        }
    }
    for job in &mut app.jobs {
        job.num_skipped_tasks = job
            .stage_ids
            .iter()
            .filter(|s| !submitted.contains(s))
            .filter_map(|s| stage_tasks.get(s))
            .sum();
        job.num_skipped_stages = job
            .stage_ids
            .iter()
            .filter(|s| !submitted.contains(s))
            .count() as u64;
        job.num_completed_stages = job
            .stage_ids
            .iter()
            .filter(|s| submitted.contains(s) && !app.reasons.contains_key(s))
            .count() as u64;
    }
    Ok(app)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::parse_time;
    use std::path::Path;

    pub(crate) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    pub(crate) fn rest(name: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(fixture(name)).expect("fixture");
        serde_json::from_str::<Value>(&text)
            .expect("json")
            .as_array()
            .expect("a list")
            .clone()
    }

    /// The event log of a real Spark run (`record_event_log.py`) gives the
    /// jobs its REST API gave at the end of the same run.
    #[test]
    fn the_event_log_says_what_the_rest_api_said() {
        let app = read(&[fixture("eventlog.jsonl")]).expect("read");
        assert_says_what_the_rest_api_said(&app);
    }

    /// The jobs and failure reasons of the recorded run (`eventlog.jsonl`)
    /// are those its REST API gave.
    pub(crate) fn assert_says_what_the_rest_api_said(app: &LoggedApp) {
        assert_eq!(app.name, "pt-spark-test");
        assert!(app.id.starts_with("local-"), "{}", app.id);
        let api = rest("eventlog_jobs.json");
        assert_eq!(app.jobs.len(), api.len());
        for want in &api {
            let id = want["jobId"].as_u64().expect("id");
            let got = app
                .jobs
                .iter()
                .find(|j| j.job_id == id)
                .unwrap_or_else(|| panic!("job {id}"));
            let text = |k: &str| want[k].as_str().map(str::to_owned);
            let n = |k: &str| want[k].as_u64().unwrap_or_else(|| panic!("{k}"));
            assert_eq!(Some(got.name.clone()), text("name"), "job {id}");
            assert_eq!(got.description, text("description"), "job {id}");
            assert_eq!(got.job_group, text("jobGroup"), "job {id}");
            let status = match want["status"].as_str() {
                Some("SUCCEEDED") => JobStatus::Succeeded,
                Some("FAILED") => JobStatus::Failed,
                other => panic!("{other:?}"),
            };
            assert_eq!(got.status, status, "job {id}");
            let time = |k: &str| want[k].as_str().and_then(parse_time);
            assert_eq!(got.submission_time, time("submissionTime"), "job {id}");
            assert_eq!(got.completion_time, time("completionTime"), "job {id}");
            let mut stages: Vec<u64> = want["stageIds"]
                .as_array()
                .expect("stages")
                .iter()
                .filter_map(Value::as_u64)
                .collect();
            stages.sort_unstable();
            let mut got_stages = got.stage_ids.clone();
            got_stages.sort_unstable();
            assert_eq!(got_stages, stages, "job {id}");
            assert_eq!(
                [
                    got.num_tasks,
                    got.num_completed_tasks,
                    got.num_failed_tasks,
                    got.num_killed_tasks,
                    got.num_skipped_tasks,
                    got.num_completed_stages,
                    got.num_skipped_stages,
                    got.num_failed_stages,
                ],
                [
                    n("numTasks"),
                    n("numCompletedTasks"),
                    n("numFailedTasks"),
                    n("numKilledTasks"),
                    n("numSkippedTasks"),
                    n("numCompletedStages"),
                    n("numSkippedStages"),
                    n("numFailedStages"),
                ],
                "job {id}: tasks, completed, failed, killed, skipped; stages completed, skipped, failed"
            );
        }
        let failed = rest("eventlog_stages_failed.json");
        assert!(!failed.is_empty());
        for stage in &failed {
            let id = stage["stageId"].as_u64().expect("stage id");
            assert_eq!(
                app.reasons.get(&id).map(String::as_str),
                stage["failureReason"].as_str(),
                "stage {id}"
            );
        }
    }
}
