//! The poller: its own thread, one poll per interval (doubling up to the
//! max backoff while the API fails), an outage reported once, a final read
//! when stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod start;

use crate::api::{ApplicationInfo, JobData, JobStatus};
use crate::client::Client;
use crate::emit::{self, JobNames};
use crate::error::PollError;
use crate::event_log;
use crate::guard::Shared;
use crate::monitor::SparkMonitor;
use crate::spans;
use crate::tracker::JobTracker;

/// The application being watched.
#[derive(Debug, Clone)]
struct App {
    id: String,
    /// Its name as Spark gives it (span attribute), maybe empty.
    name: String,
    /// Its bounded `app_name` tag.
    tag: String,
    /// `{id}` or `{id}/{attempt}`.
    path: String,
}

pub(crate) struct Collector {
    cfg: Arc<SparkMonitor>,
    client: Client,
    parent: tracing::Span,
    shared: Arc<Shared>,
    app: Option<App>,
    tracker: JobTracker,
    names: JobNames,
    started: Instant,
    /// When the monitor started, for the event logs written since.
    started_at: std::time::SystemTime,
    reached: bool,
    failures: u32,
    outage_reported: bool,
}

impl Collector {
    fn run(mut self, stop: &mpsc::Receiver<()>) {
        let mut wait = Duration::ZERO;
        loop {
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                // Stopped (guard dropped its sender): one final read.
                _ => {
                    if let Err(e) = self.poll() {
                        // The UI may have gone with the application: its
                        // event log still has every job.
                        match self.read_event_log() {
                            LogRead::Read => {}
                            LogRead::Missing => self.failed(&e, true),
                            LogRead::Compressed { path, codec } => {
                                self.count_failure(&e);
                                compressed_log(&self.parent, &path, &codec);
                            }
                        }
                    }
                    return;
                }
            }
            wait = match self.poll() {
                Ok(()) => self.cfg.interval,
                Err(e) => {
                    self.failed(&e, false);
                    self.backoff()
                }
            };
        }
    }

    /// The wait after a failed poll: the interval while the application may
    /// still be starting, then doubling up to the max backoff.
    fn backoff(&self) -> Duration {
        if !self.reached && self.started.elapsed() < self.cfg.startup_grace {
            return self.cfg.interval;
        }
        let factor = 1u32 << self.failures.saturating_sub(1).min(16);
        self.cfg
            .interval
            .saturating_mul(factor)
            .min(self.cfg.max_backoff.max(self.cfg.interval))
    }

    fn count_failure(&mut self, e: &PollError) {
        self.failures = self.failures.saturating_add(1);
        self.shared.update(|s| s.failed_polls += 1);
        emit::poll_error(e.reason());
    }

    fn failed(&mut self, e: &PollError, last: bool) {
        self.failures = self.failures.saturating_add(1);
        self.shared.update(|s| s.failed_polls += 1);
        let expected = !self.reached && self.started.elapsed() < self.cfg.startup_grace;
        if expected && !last {
            return;
        }
        emit::poll_error(e.reason());
        if self.outage_reported {
            return;
        }
        self.outage_reported = true;
        self.shared.update(|s| s.outages_reported += 1);
        let source = std::error::Error::source(e).map(|s| s.to_string());
        if last {
            tracing::warn!(parent: &self.parent, error = %e, source,
                "the final read of Spark's REST API failed (and no event log was found): jobs that finished since the last poll are not reported");
        } else {
            tracing::warn!(parent: &self.parent, error = %e, source,
                "Spark's REST API cannot be read; retrying (reported once until it recovers)");
        }
    }

    fn poll(&mut self) -> Result<(), PollError> {
        let app = match &self.app {
            Some(app) => app.clone(),
            None => self.discover()?,
        };
        let jobs = self.client.jobs(&app.path)?;
        self.reached = true;
        if self.outage_reported {
            self.outage_reported = false;
            tracing::info!(parent: &self.parent, "Spark's REST API answers again");
        }
        self.failures = 0;
        self.report(&app, &jobs.items, jobs.malformed == 0, |c, new| {
            if new.iter().any(|j| j.status == JobStatus::Failed) {
                c.failure_reasons(&app.path)
            } else {
                HashMap::new()
            }
        });
        self.shared
            .update(|s| s.malformed_elements += jobs.malformed as u64);
        let executors = self.client.executors(&app.path)?;
        let active = emit::active_executors(&executors.items);
        emit::executors_gauge(&app.tag, active);
        self.shared.update(|s| {
            s.polls += 1;
            s.executors_active = Some(active);
            s.malformed_elements += executors.malformed as u64;
        });
        Ok(())
    }

    /// Reports the jobs of `jobs` that finished since the last report
    /// (metrics, spans, stats); `reasons` gives the failure reason of each
    /// failed stage when a new job failed.
    fn report(
        &mut self,
        app: &App,
        jobs: &[JobData],
        complete: bool,
        reasons: impl FnOnce(&Self, &[&JobData]) -> HashMap<u64, String>,
    ) {
        let mut tracker = std::mem::take(&mut self.tracker);
        let new = tracker.newly_finished(jobs, complete);
        let reasons = reasons(self, &new);
        let (mut reported, mut without_times) = (0, 0);
        for job in new {
            let tag = self.names.tag(job);
            if !emit::job_duration(&app.tag, &tag, job) {
                without_times += 1;
                continue;
            }
            reported += 1;
            if self.cfg.spans {
                let reason = job
                    .stage_ids
                    .iter()
                    .find_map(|id| reasons.get(id))
                    .map(String::as_str);
                if let Some(span) = spans::job_span(&app.id, &app.name, &tag, job, reason) {
                    match &self.cfg.tracer_provider {
                        Some(p) => span.record_with(p, &self.parent),
                        None => span.record_under(&self.parent),
                    }
                }
            }
        }
        self.tracker = tracker;
        let tracked = self.tracker.len() as u64;
        self.shared.update(|s| {
            s.jobs_reported += reported;
            s.jobs_without_times += without_times;
            s.tracked_jobs = tracked;
        });
    }

    /// The final read when the REST API is gone with the application: its
    /// jobs from its event log, when the monitor knows where the logs are.
    fn read_event_log(&mut self) -> LogRead {
        let Some(dir) = self.cfg.event_log_dir.clone() else {
            return LogRead::Missing;
        };
        let id = self
            .app
            .as_ref()
            .map(|a| a.id.clone())
            .or_else(|| self.cfg.app_id.clone());
        let found = event_log::find(
            &dir,
            id.as_deref(),
            self.cfg.app_name.as_deref(),
            self.started_at,
        );
        let files = match found {
            Some(event_log::Found::Plain(files)) => files,
            Some(event_log::Found::Compressed { path, codec }) => {
                self.shared.update(|s| s.event_log_unreadable += 1);
                return LogRead::Compressed { path, codec };
            }
            None => return LogRead::Missing,
        };
        let Ok(logged) = event_log::read(&files) else {
            return LogRead::Missing;
        };
        let app = match &self.app {
            Some(app) => app.clone(),
            None => {
                let app = App {
                    path: logged.id.clone(),
                    tag: emit::app_tag(&emit::APP_NAMES, &logged.name),
                    name: logged.name.clone(),
                    id: logged.id.clone(),
                };
                self.shared.update(|s| s.app_id = Some(app.id.clone()));
                app
            }
        };
        let reasons = logged.reasons;
        self.report(&app, &logged.jobs, true, move |_, _| reasons);
        self.shared.update(|s| s.event_log_reads += 1);
        LogRead::Read
    }

    /// The failure reason of each failed stage (best effort: none when the
    /// request fails).
    fn failure_reasons(&self, path: &str) -> HashMap<u64, String> {
        match self.client.failed_stages(path) {
            Ok(stages) => stages
                .items
                .into_iter()
                .filter_map(|s| Some((s.stage_id, s.failure_reason?)))
                .collect(),
            Err(_) => HashMap::new(),
        }
    }

    fn discover(&mut self) -> Result<App, PollError> {
        let cfg = &self.cfg;
        let found: Option<ApplicationInfo> = match &cfg.app_id {
            Some(id) => self.client.application(id)?,
            None => {
                let apps = self.client.applications()?.items;
                let mut matching = apps
                    .into_iter()
                    .filter(|a| cfg.app_name.as_ref().is_none_or(|n| &a.name == n));
                let first = matching.next();
                match first {
                    Some(a) if a.completed() => {
                        Some(matching.find(|a| !a.completed()).unwrap_or(a))
                    }
                    other => other,
                }
            }
        };
        let Some(info) = found else {
            let wanted = match (&cfg.app_id, &cfg.app_name) {
                (Some(id), _) => format!("with id {id}"),
                (None, Some(name)) => format!("named {name}"),
                (None, None) => "at all".to_owned(),
            };
            return Err(PollError::NoApplication {
                url: format!("{}/applications", self.client.api()),
                wanted,
            });
        };
        let app = App {
            path: info.path(),
            tag: emit::app_tag(&emit::APP_NAMES, &info.name),
            name: info.name,
            id: info.id,
        };
        self.shared.update(|s| s.app_id = Some(app.id.clone()));
        self.app = Some(app.clone());
        Ok(app)
    }
}

/// What the final read found in the event log directory.
enum LogRead {
    /// The jobs were read from the log.
    Read,
    /// No log (or none readable as a file).
    Missing,
    /// The log is compressed: not readable without its codec.
    Compressed { path: PathBuf, codec: String },
}

/// Whether the process warned about a compressed event log already.
static COMPRESSED_WARNED: AtomicBool = AtomicBool::new(false);

/// Says, once per process, that the event log cannot be read and how to
/// make Spark write one that can; later ones at debug level.
fn compressed_log(parent: &tracing::Span, path: &Path, codec: &str) {
    let path = path.display().to_string();
    if COMPRESSED_WARNED.swap(true, Ordering::Relaxed) {
        tracing::debug!(parent: parent, path, codec, "the Spark event log is compressed: not read");
        return;
    }
    tracing::warn!(parent: parent, path, codec,
        "the final read of Spark's REST API failed and the application's event log is compressed ({codec}), which the monitor cannot read: jobs that finished since the last poll are not reported; write it uncompressed with `--conf spark.eventLog.compress=false` (Spark 4.0 compresses by default; reported once per process)");
}
