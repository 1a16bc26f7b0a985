//! The jobs of a finished application, from its event log
//! (`spark.eventLog.enabled=true`): what the monitor's final read uses when
//! the application's UI went away with it (a `spark-submit` that ended
//! before the next poll). The event log is what Spark's history server
//! rebuilds its REST answers from; the jobs read here carry the same
//! fields as the REST API's (`JobData`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::api::{JobData, JobStatus};

/// The longest event log read (bytes): beyond it the rest is ignored.
const MAX_LOG_BYTES: u64 = 256 * 1024 * 1024;
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

/// The event log of application `app_id` in `dir` (finished, else
/// `.inprogress`), else, without an id, the newest log modified since
/// `since` whose application is named `name` (any name when `None`).
pub(crate) fn find(
    dir: &Path,
    app_id: Option<&str>,
    name: Option<&str>,
    since: SystemTime,
) -> Option<PathBuf> {
    if let Some(id) = app_id {
        // Finished, else still being written (the application has not
        // stopped yet): its complete lines are read.
        return [dir.join(id), dir.join(format!("{id}.inprogress"))]
            .into_iter()
            .find(|p| p.is_file());
    }
    let mut candidates: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            !n.to_string_lossy().starts_with('.')
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            let modified = meta.modified().ok()?;
            (meta.is_file() && modified >= since).then(|| (modified, e.path()))
        })
        .collect();
    candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
    candidates
        .into_iter()
        .map(|(_, p)| p)
        .find(|p| name.is_none_or(|n| application(p).is_some_and(|(_, got)| got == n)))
}

/// The id and name of the application of a log (its start event, near the
/// top).
fn application(path: &Path) -> Option<(String, String)> {
    let file = File::open(path).ok()?;
    BufReader::new(file.take(MAX_LOG_BYTES))
        .lines()
        .take(50)
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
        .find(|e| e["Event"] == "SparkListenerApplicationStart")
        .map(|e| {
            (
                e["App ID"].as_str().unwrap_or_default().to_owned(),
                e["App Name"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

fn millis(v: &Value) -> Option<SystemTime> {
    let ms = v.as_u64()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads the jobs of the log at `path`. Lines that do not parse are
/// skipped (a log cut by a crash still gives the jobs it has).
pub(crate) fn read(path: &Path) -> std::io::Result<LoggedApp> {
    let file = File::open(path)?;
    let mut app = LoggedApp::default();
    let mut index: HashMap<u64, usize> = HashMap::new();
    // Stage id -> the job it belongs to.
    let mut stage_job: HashMap<u64, usize> = HashMap::new();
    // Tasks of each stage, and the stages that ran: a job's stages that
    // never ran were skipped (their output was computed before).
    let mut stage_tasks: HashMap<u64, u64> = HashMap::new();
    let mut submitted: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut reader = BufReader::new(file.take(MAX_LOG_BYTES));
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
mod tests {
    use super::*;
    use crate::api::parse_time;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn rest(name: &str) -> Vec<Value> {
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
        let app = read(&fixture("eventlog.jsonl")).expect("read");
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

    #[test]
    fn a_log_is_found_by_id_or_as_the_newest_of_its_name() {
        let dir = std::env::temp_dir().join(format!(
            "pt-spark-find-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let log = std::fs::read_to_string(fixture("eventlog.jsonl")).expect("fixture");
        let id = read(&fixture("eventlog.jsonl")).expect("read").id;
        let since = SystemTime::now() - Duration::from_secs(60);
        assert_eq!(find(&dir, Some(&id), None, since), None);
        std::fs::write(dir.join(format!("{id}.inprogress")), &log).expect("write");
        assert_eq!(
            find(&dir, Some(&id), None, since),
            Some(dir.join(format!("{id}.inprogress")))
        );
        std::fs::write(dir.join(&id), &log).expect("write");
        assert_eq!(find(&dir, Some(&id), None, since), Some(dir.join(&id)));
        let other = log.replace("pt-spark-test", "another-app");
        std::fs::write(dir.join("local-1"), other).expect("write");
        let named = find(&dir, None, Some("pt-spark-test"), since).expect("by name");
        assert!(named.starts_with(&dir));
        assert_eq!(
            application(&named).map(|(_, n)| n).as_deref(),
            Some("pt-spark-test")
        );
        assert_eq!(
            find(&dir, None, Some("no-such-app"), since),
            None,
            "no log of that name"
        );
        assert_eq!(
            find(
                &dir,
                None,
                None,
                SystemTime::now() + Duration::from_secs(3600)
            ),
            None,
            "none written since"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
