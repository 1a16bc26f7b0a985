//! The child's process group: every process a stage starts lives in a
//! group of its own (the child is its leader), so that a timeout, a
//! cancellation or the end of the stage can signal all of them at once.

use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, test_kill_process_group, Pid, Signal};

use crate::registry::Registered;
use crate::watchdog::Watchdog;

/// How often the group is looked at while it is given time to exit.
const POLL: Duration = Duration::from_millis(10);

/// A process group, by id (the pid of its leader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Group {
    pgid: Pid,
}

impl Group {
    /// The group led by the child `pid` (started with `process_group(0)`).
    pub(crate) fn of_leader(pid: u32) -> Option<Self> {
        let raw = i32::try_from(pid).ok()?;
        // Never signal group 1 (init) or our own group.
        if raw <= 1 || Some(raw) == i32::try_from(std::process::id()).ok() {
            return None;
        }
        Pid::from_raw(raw).map(|pgid| Group { pgid })
    }

    /// A group by id, with the same refusals as [`of_leader`](Self::of_leader).
    pub(crate) fn of_id(id: i32) -> Option<Self> {
        Self::of_leader(u32::try_from(id).ok()?)
    }

    /// The group id, as the pid of its leader.
    pub(crate) fn pid(&self) -> Pid {
        self.pgid
    }

    /// The group id.
    pub(crate) fn id(&self) -> i32 {
        self.pgid.as_raw_nonzero().get()
    }

    /// Sends `sig` to every process of the group; false when none is left.
    pub(crate) fn signal(&self, sig: Signal) -> bool {
        kill_process_group(self.pgid, sig).is_ok()
    }

    /// Whether a process of the group is still running (zombies waiting to
    /// be reaped by someone else do not count).
    pub(crate) fn has_live_members(&self) -> bool {
        if test_kill_process_group(self.pgid).is_err() {
            return false;
        }
        live_members_in_proc(self.id()).unwrap_or(true)
    }

    /// SIGTERM to the group, up to `grace` for it to exit (calling `reap`
    /// between looks, so that the leader can be waited for), then SIGKILL
    /// to whatever is left. Blocks for at most `grace` plus a few
    /// milliseconds.
    pub(crate) fn terminate_blocking(&self, grace: Duration, mut reap: impl FnMut()) {
        if !self.signal(Signal::TERM) {
            return;
        }
        // A grace too long to add to the clock (`Duration::MAX`) is no deadline.
        let deadline = Instant::now().checked_add(grace);
        loop {
            reap();
            if !self.has_live_members() {
                return;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            std::thread::sleep(POLL);
        }
        self.signal(Signal::KILL);
        reap();
    }
}

/// Live (non-zombie) processes of group `pgid`, from `/proc`; `None` where
/// `/proc` cannot be read.
fn live_members_in_proc(pgid: i32) -> Option<bool> {
    let dir = std::fs::read_dir("/proc").ok()?;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((state, pgrp)) = parse_stat(&stat) {
            if pgrp == pgid && state != 'Z' && state != 'X' {
                return Some(true);
            }
        }
    }
    Some(false)
}

/// State and process group of a `/proc/<pid>/stat` line (the command name
/// in parentheses may itself hold spaces and parentheses).
pub(crate) fn parse_stat(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, pgrp))
}

/// Terminates the group on drop unless disarmed: what stops a cancelled
/// async stage (its future dropped) from leaving processes behind. The
/// SIGTERM is sent at once; the SIGKILL after the grace period comes from
/// a short-lived thread, since a drop cannot wait. The stage's watchdog
/// stays armed until the group is gone.
#[derive(Debug)]
pub(crate) struct GroupGuard {
    group: Option<Group>,
    grace: Duration,
    watchdog: Option<Watchdog>,
    /// In the registry of live groups until the stage ends.
    _registered: Option<Registered>,
}

impl GroupGuard {
    pub(crate) fn new(group: Option<Group>, grace: Duration, watchdog: Option<Watchdog>) -> Self {
        GroupGuard {
            group,
            grace,
            watchdog,
            _registered: group.map(Registered::new),
        }
    }

    /// The stage ended normally and cleaned up itself: its watchdog, to
    /// be disarmed (off the async runtime).
    pub(crate) fn disarm(&mut self) -> Option<Watchdog> {
        self.group = None;
        self.watchdog.take()
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let watchdog = self.watchdog.take();
        let Some(group) = self.group.take() else {
            return;
        };
        if !group.signal(Signal::TERM) {
            return;
        }
        let grace = self.grace;
        let spawned = std::thread::Builder::new()
            .name("pt-process-kill".into())
            .spawn(move || {
                group.terminate_blocking(grace, || {});
                if let Some(w) = watchdog {
                    w.disarm();
                }
            });
        if spawned.is_err() {
            // No thread: SIGKILL now; the watchdog, dropped armed, sees
            // its pipe close and ends whatever is left.
            group.signal(Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        assert_eq!(
            parse_stat("123 (a) b) c) S 1 4567 4567 0 -1"),
            Some(('S', 4567))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    /// A child in a group of its own that exits on SIGTERM.
    fn group_child() -> (std::process::Child, Group) {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let group = Group::of_leader(child.id()).expect("a group of its own");
        (child, group)
    }

    #[test]
    fn blocking_terminate_takes_any_grace() {
        let (mut child, group) = group_child();
        group.terminate_blocking(Duration::MAX, || {
            let _ = child.try_wait();
        });
        assert!(child.try_wait().expect("wait").is_some());
    }

    #[test]
    fn never_our_own_group_or_init() {
        assert!(Group::of_leader(1).is_none());
        assert!(Group::of_leader(std::process::id()).is_none());
        assert!(Group::of_leader(u32::MAX).is_none());
    }
}
