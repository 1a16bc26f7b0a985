//! Running the prepared command: blocking ([`ProcessStage::run`]) and on
//! tokio ([`ProcessStage::run_async`]). Both read the output while the
//! process runs, enforce the timeout on the whole group, and leave no
//! process of the group behind.

use std::io::Read;
use std::process::ExitStatus;
use std::sync::mpsc;
use std::time::Duration;

use pipeline_telemetry::PipelineRun;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::command::{drain_limit, Ended, ProcessOutput, ProcessStage};
use crate::error::ProcessError;
use crate::group::{Group, GroupGuard};
use crate::output::OutputCollector;
use crate::spans;

const READ_BUF: usize = 16 * 1024;

impl ProcessStage {
    pub(crate) fn execute_sync(mut self, run: &PipelineRun) -> Result<ProcessOutput, ProcessError> {
        let mut prepared = self.prepare(run);
        let mut child = match self.command.spawn() {
            Ok(c) => c,
            Err(e) => return Err(prepared.spawn_failed(e)),
        };
        let pid = child.id();
        spans::record_pid(&prepared.span, pid);
        let group = Group::of_leader(pid);
        let mut guard = GroupGuard::new(group, self.grace);

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
        guard.disarm();
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
        prepared.finish(ended, run, self.stage, self.timeout)
    }

    pub(crate) async fn execute_async(
        mut self,
        run: &PipelineRun,
    ) -> Result<ProcessOutput, ProcessError> {
        let mut prepared = self.prepare(run);
        let mut command = tokio::process::Command::from(std::mem::replace(
            &mut self.command,
            std::process::Command::new(""),
        ));
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => return Err(prepared.spawn_failed(e)),
        };
        let pid = child.id().unwrap_or(0);
        spans::record_pid(&prepared.span, pid);
        let group = Group::of_leader(pid);
        // Terminates the group if this future is dropped before the end.
        let mut guard = GroupGuard::new(group, self.grace);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (exited_tx, exited_rx) = tokio::sync::oneshot::channel::<()>();
        let grace = self.grace;
        let timeout = self.timeout;

        let waiting = async {
            let mut timed_out = false;
            let status = match timeout {
                None => child.wait().await,
                Some(t) => match tokio::time::timeout(t, child.wait()).await {
                    Ok(r) => r,
                    Err(_) => {
                        timed_out = true;
                        if let Some(g) = group {
                            g.terminate(grace, || {
                                let _ = child.try_wait();
                            })
                            .await;
                        }
                        child.wait().await
                    }
                },
            };
            if let Some(g) = group {
                if g.has_live_members() {
                    g.terminate(grace, || {}).await;
                }
            }
            let _ = exited_tx.send(());
            (status, timed_out)
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
        let ((status, timed_out), ()) = tokio::join!(waiting, reading);
        guard.disarm();
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
        prepared.finish(ended, run, self.stage, self.timeout)
    }
}

/// Reads `pipe` into `collector` on a thread of its own; the collector comes back
/// through the channel at end of file.
fn pump_thread<R: Read + Send + 'static>(
    pipe: Option<R>,
    mut collector: OutputCollector,
) -> mpsc::Receiver<OutputCollector> {
    let (tx, rx) = mpsc::channel();
    let Some(mut pipe) = pipe else {
        let _ = tx.send(collector);
        return rx;
    };
    let spawned = std::thread::Builder::new()
        .name("pt-process-output".into())
        .spawn(move || {
            let mut buf = vec![0u8; READ_BUF];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => collector.feed(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(collector);
        });
    if spawned.is_err() {
        // No thread: the pipe is dropped and the child gets EPIPE.
        let (tx, rx2) = mpsc::channel();
        let _ = tx.send(OutputCollector::none());
        return rx2;
    }
    rx
}

/// The tail and captured bytes of a pumped stream, waiting at most the
/// drain limit after the process ended.
fn collect(rx: mpsc::Receiver<OutputCollector>) -> (Option<String>, Vec<u8>) {
    match rx.recv_timeout(drain_limit()) {
        Ok(collector) => collector.finish(),
        Err(_) => (None, Vec::new()),
    }
}

async fn pump_async<R: AsyncRead + Unpin>(pipe: Option<R>, collector: &mut OutputCollector) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => collector.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}
