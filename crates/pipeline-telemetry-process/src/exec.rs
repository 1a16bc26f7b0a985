//! Running the prepared command: blocking ([`ProcessStage::run`]) and on
//! tokio ([`ProcessStage::run_async`]). Both read the output while the
//! process runs, enforce the timeout on the whole group, and leave no
//! process of the group behind. The async path does no blocking work on
//! the runtime's threads: the scans of `/proc` that wait for the group and
//! the reading of dbt's results run on tokio's blocking pool.

use std::process::ExitStatus;
use std::sync::mpsc;
use std::time::Duration;

use pipeline_telemetry::PipelineRun;
use rustix::process::Signal;

use crate::command::{ProcessOutput, ProcessStage};
use crate::error::ProcessError;
use crate::group::{Group, GroupGuard};
use crate::output::OutputCollector;
use crate::prepare::{drain_limit, read_dbt, Ended};
use crate::pump::{collect, pump_async, pump_thread};
use crate::spans;
use crate::watchdog::Watchdog;

impl ProcessStage {
    pub(crate) fn execute_sync(mut self) -> Result<ProcessOutput, ProcessError> {
        let run = PipelineRun::current();
        let mut prepared = self.prepare(run.as_ref());
        let watchdog = Watchdog::start(self.grace);
        // This thread waits for the child to end: the parent-death signal
        // (sent when the forking thread ends) is right here.
        Watchdog::arm(watchdog.as_ref(), &mut self.command, true);
        let mut child = match self.command.spawn() {
            Ok(c) => c,
            Err(e) => {
                if let Some(w) = watchdog {
                    w.disarm();
                }
                return Err(prepared.spawn_failed(e));
            }
        };
        let pid = child.id();
        spans::record_pid(&prepared.span, pid);
        let group = Group::of_leader(pid);
        let mut guard = GroupGuard::new(group, self.grace, watchdog);

        let out_collector = std::mem::replace(&mut prepared.out, OutputCollector::none());
        let err_collector = std::mem::replace(&mut prepared.err, OutputCollector::none());
        let out_rx = pump_thread(child.stdout.take(), out_collector);
        let err_rx = pump_thread(child.stderr.take(), err_collector);

        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::Builder::new()
            .name("pt-process-wait".into())
            .spawn(move || {
                let _ = tx.send(child.wait());
            });
        let mut timed_out = false;
        let waited: Result<std::io::Result<ExitStatus>, mpsc::RecvTimeoutError> = match waiter {
            Err(e) => Ok(Err(e)),
            Ok(_) => match self.timeout {
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(t) => match rx.recv_timeout(t) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        timed_out = true;
                        if let Some(g) = group {
                            g.terminate_blocking(self.grace, || {});
                        }
                        rx.recv_timeout(Duration::from_secs(5))
                    }
                    other => other,
                },
            },
        };
        // Whatever the leader left behind in its group goes with it.
        if let Some(g) = group {
            if g.has_live_members() {
                g.terminate_blocking(self.grace, || {});
            }
        }
        if let Some(w) = guard.disarm() {
            w.disarm();
        }
        let (status, wait_error) = match waited {
            Ok(Ok(s)) => (Some(s), None),
            Ok(Err(e)) => (None, Some(e)),
            Err(_) => (
                None,
                Some(std::io::Error::other("the waiting thread ended")),
            ),
        };
        let (_, stdout) = collect(out_rx);
        let (tail, _) = collect(err_rx);
        let ended = Ended {
            pid,
            status,
            timed_out,
            wait_error,
            stdout,
            stderr_tail: tail.unwrap_or_default(),
        };
        let report = read_dbt(prepared.dbt.take(), prepared.started, &prepared.span);
        prepared.finish(ended, report, run.as_ref(), self.stage, self.timeout)
    }

    pub(crate) async fn execute_async(mut self) -> Result<ProcessOutput, ProcessError> {
        let run = PipelineRun::current();
        let mut prepared = self.prepare(run.as_ref());
        let watchdog = Watchdog::start(self.grace);
        // No parent-death signal: tokio forks on the worker polling this
        // future, a thread that may end while the child runs.
        Watchdog::arm(watchdog.as_ref(), &mut self.command, false);
        let mut command = tokio::process::Command::from(std::mem::replace(
            &mut self.command,
            std::process::Command::new(""),
        ));
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => {
                // Its process is reaped on a thread of its own.
                drop(watchdog);
                return Err(prepared.spawn_failed(e));
            }
        };
        let pid = child.id().unwrap_or(0);
        spans::record_pid(&prepared.span, pid);
        let group = Group::of_leader(pid);
        // Terminates the group if this future is dropped before the end.
        let mut guard = GroupGuard::new(group, self.grace, watchdog);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (exited_tx, exited_rx) = tokio::sync::oneshot::channel::<()>();
        let grace = self.grace;
        let timeout = self.timeout;

        let waiting = async {
            let mut timed_out = false;
            let mut left = grace;
            let status = match timeout {
                None => child.wait().await,
                Some(t) => match tokio::time::timeout(t, child.wait()).await {
                    Ok(r) => r,
                    Err(_) => {
                        timed_out = true;
                        if let Some(g) = group {
                            let termed = tokio::time::Instant::now();
                            g.signal(Signal::TERM);
                            if tokio::time::timeout(grace, child.wait()).await.is_err() {
                                g.signal(Signal::KILL);
                            }
                            left = grace.saturating_sub(termed.elapsed());
                        }
                        child.wait().await
                    }
                },
            };
            // The rest of the group, waited for on the blocking pool
            // (`/proc` is scanned until it is gone).
            let cleaned = match group {
                None => true,
                Some(g) => tokio::task::spawn_blocking(move || {
                    if g.has_live_members() {
                        g.terminate_blocking(left, || {});
                    }
                })
                .await
                .is_ok(),
            };
            let _ = exited_tx.send(());
            (status, timed_out, cleaned)
        };
        let out = &mut prepared.out;
        let err = &mut prepared.err;
        let reading = async {
            let pumps = async { tokio::join!(pump_async(stdout, out), pump_async(stderr, err)) };
            tokio::select! {
                _ = pumps => {}
                _ = async {
                    let _ = exited_rx.await;
                    tokio::time::sleep(drain_limit()).await;
                } => {}
            }
        };
        let ((status, timed_out, cleaned), ()) = tokio::join!(waiting, reading);
        // Not cleaned (the blocking pool refused the work): the guard ends
        // the group when it is dropped, at the end of this function.
        let watchdog = if cleaned { guard.disarm() } else { None };
        let (_, stdout) = std::mem::replace(&mut prepared.out, OutputCollector::none()).finish();
        let (tail, _) = std::mem::replace(&mut prepared.err, OutputCollector::none()).finish();
        let (status, wait_error) = match status {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        let ended = Ended {
            pid,
            status,
            timed_out,
            wait_error,
            stdout,
            stderr_tail: tail.unwrap_or_default(),
        };
        // dbt's results (up to 64 MiB of JSON) and the watchdog's exit,
        // on the blocking pool.
        let dbt = prepared.dbt.take();
        let span = prepared.span.clone();
        let started = prepared.started;
        let report = tokio::task::spawn_blocking(move || {
            if let Some(w) = watchdog {
                w.disarm();
            }
            read_dbt(dbt, started, &span)
        })
        .await
        .ok()
        .flatten();
        prepared.finish(ended, report, run.as_ref(), self.stage, self.timeout)
    }
}
