//! The parent-death watchdog: a child never outlives this process.
//!
//! The child runs in a process group of its own (so that a timeout or a
//! cancelled stage can end all of it, and so that Ctrl-C in a terminal,
//! which signals the terminal's foreground group, does not reach it behind
//! the parent's back). The price: when this process dies (SIGINT or
//! SIGTERM with their default action, SIGKILL, the OOM killer, an abort),
//! nothing would end that group. Three mechanisms close the gap:
//!
//! - A **watchdog process** per stage: `/bin/sh` running [`SCRIPT`], in a
//!   process group of its own (out of reach of the terminal's Ctrl-C and of
//!   a kill of this process's group), with the read end of a pipe as its
//!   stdin. The write end lives only in this process (close-on-exec), so
//!   the kernel closes it when this process dies, however it dies. The
//!   child itself writes its group id into the pipe between `fork` and
//!   `exec` (before it runs any code of the command), so there is no window
//!   in which the group exists unknown to the watchdog. At the normal end
//!   of the stage, after its own cleanup, this process writes `done` and
//!   the watchdog exits. On end of file without `done`, the watchdog sends
//!   SIGTERM to the group and SIGKILL after the stage's grace period
//!   (rounded up to whole seconds, at most an hour): the child and every
//!   process it started in its group (grandchildren) end.
//! - **`PR_SET_PDEATHSIG`** (SIGKILL) on the direct child of the blocking
//!   [`ProcessStage::run`](crate::ProcessStage::run), with the `getppid`
//!   check for a parent that died before the call. Linux sends it when the
//!   *thread* that forked the child ends, so it is set only where that
//!   thread is the caller of `run`, blocked until the child has ended; it
//!   is not set on the async path, where tokio forks on whichever worker
//!   polls the stage, a thread that may end (after `block_in_place`) while
//!   the child runs. It covers the direct child when the watchdog could not
//!   be started.
//! - No signal handler is installed: a library that changes the
//!   dispositions of SIGINT or SIGTERM takes a decision that belongs to
//!   the application. An application that handles them itself stays alive;
//!   its stages end as it ends them (a dropped `run_async` future ends its
//!   group), and when it exits the watchdog ends whatever is left.
//!
//! Limits: a process that leaves the group (`setsid`, `setpgid`, a daemon)
//! is out of reach, as it chose to be. Without `/bin/sh` (a distroless
//! image), no watchdog runs (a warning is logged once): the blocking
//! path's direct child still gets SIGKILL, grandchildren do not. A copy of
//! this process made by `fork` without `exec` (by other code) holds the
//! pipe open until it exits or execs, delaying the watchdog until then.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal};

/// The watchdog's program (POSIX `sh`). Its stdin is the pipe: the first
/// line is the child's group id, then `done` or end of file. `$1` is the
/// grace period in seconds.
pub(crate) const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT TSTP TTIN TTOU
IFS= read -r pgid || exit 0
case $pgid in ''|*[!0-9]*) exit 0 ;; esac
if IFS= read -r word && [ "$word" = done ]; then exit 0; fi
kill -s TERM -- "-$pgid" 2>/dev/null || exit 0
n=0
while [ "$n" -lt "$1" ] && kill -s 0 -- "-$pgid" 2>/dev/null; do
  sleep 1
  n=$((n + 1))
done
kill -s KILL -- "-$pgid" 2>/dev/null
exit 0"#;

/// The name the watchdog shows in `ps` (its `$0`).
pub(crate) const WATCHDOG_NAME: &str = "pipeline-telemetry-watchdog";

/// Longest grace the watchdog gives a group after this process died.
const MAX_GRACE_SECS: u64 = 3600;

static WARNED: AtomicBool = AtomicBool::new(false);

/// One stage's watchdog: the write end of its pipe and its process.
#[derive(Debug)]
pub(crate) struct Watchdog {
    pipe: Option<OwnedFd>,
    process: Option<Child>,
}

impl Watchdog {
    /// Starts a watchdog that gives the group `grace` between SIGTERM and
    /// SIGKILL; `None` (and a warning, once) when it cannot be started.
    pub(crate) fn start(grace: Duration) -> Option<Watchdog> {
        match Self::try_start(grace) {
            Ok(w) => Some(w),
            Err(e) => {
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        target: "pipeline_telemetry::process",
                        "no watchdog process (/bin/sh: {e}): children of stages may outlive \
                         this process if it is killed"
                    );
                }
                None
            }
        }
    }

    fn try_start(grace: Duration) -> std::io::Result<Watchdog> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let secs = grace
            .as_secs()
            .saturating_add(u64::from(grace.subsec_nanos() > 0))
            .clamp(1, MAX_GRACE_SECS);
        let process = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg(WATCHDOG_NAME)
            .arg(secs.to_string())
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .process_group(0)
            .spawn()?;
        Ok(Watchdog {
            pipe: Some(write),
            process: Some(process),
        })
    }

    /// Makes `command` (spawned next, with `process_group(0)`) announce its
    /// group to this watchdog from between `fork` and `exec`; with
    /// `pdeathsig`, it also gets SIGKILL when the thread that spawns it
    /// ends (see the module documentation for when that is right).
    pub(crate) fn arm(watchdog: Option<&Watchdog>, command: &mut Command, pdeathsig: bool) {
        let fd: Option<RawFd> = watchdog
            .and_then(|w| w.pipe.as_ref())
            .map(AsRawFd::as_raw_fd);
        let parent = rustix::process::getpid();
        let hook = move || -> std::io::Result<()> {
            // Only async-signal-safe system calls below: this runs in the
            // child between fork and exec.
            rustix::process::setpgid(None, None)?;
            if pdeathsig {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // The parent died before the call: nobody will send it.
                if rustix::process::getppid() != Some(parent) {
                    return Err(rustix::io::Errno::SRCH.into());
                }
            }
            if let Some(fd) = fd {
                let mut buf = [0u8; 24];
                let line = pid_line(rustix::process::getpid(), &mut buf);
                // SAFETY: the fd is the pipe's write end, open in the
                // parent when it forked (the `Watchdog` outlives the
                // spawn), so it is open in this child until exec.
                let pipe = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
                let mut written = 0;
                while written < line.len() {
                    match rustix::io::write(pipe, &line[written..]) {
                        Ok(n) => written += n,
                        Err(rustix::io::Errno::INTR) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(())
        };
        // SAFETY: the hook makes only async-signal-safe system calls
        // (setpgid, prctl, getppid, getpid, write) and allocates nothing.
        unsafe {
            command.pre_exec(hook);
        }
    }

    /// The stage ended and cleaned up its group: tells the watchdog, and
    /// waits for it to exit (a blocking wait of a few milliseconds: never
    /// on an async runtime's thread).
    pub(crate) fn disarm(mut self) {
        if let Some(pipe) = self.pipe.take() {
            let mut file = std::fs::File::from(pipe);
            let _ = file.write_all(b"done\n");
        }
        if let Some(mut process) = self.process.take() {
            let _ = process.wait();
        }
    }
}

impl Drop for Watchdog {
    /// Dropped without [`disarm`](Watchdog::disarm): the pipe closes, so
    /// the watchdog ends the group as if this process had died; its exit
    /// is waited for on a thread of its own.
    fn drop(&mut self) {
        drop(self.pipe.take());
        if let Some(mut process) = self.process.take() {
            if !matches!(process.try_wait(), Ok(Some(_))) {
                let _ = std::thread::Builder::new()
                    .name("pt-process-reap".into())
                    .spawn(move || process.wait());
            }
        }
    }
}

/// `<pid>\n` in `buf`, without allocating.
fn pid_line(pid: Pid, buf: &mut [u8; 24]) -> &[u8] {
    let mut n = pid.as_raw_nonzero().get().unsigned_abs();
    let mut i = buf.len() - 1;
    buf[i] = b'\n';
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_lines() {
        let mut buf = [0u8; 24];
        let pid = Pid::from_raw(4_194_304).expect("pid");
        assert_eq!(pid_line(pid, &mut buf), b"4194304\n");
        let pid = Pid::from_raw(7).expect("pid");
        assert_eq!(pid_line(pid, &mut buf), b"7\n");
    }
}
