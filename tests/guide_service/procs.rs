//! Processes of the machine, read from `/proc`: which descend from a pid,
//! and which of them are still alive.

use std::time::{Duration, Instant};

/// One process: its pid, its start time (clock ticks since boot, to tell
/// a reused pid apart) and its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proc {
    pub pid: u32,
    pub start: u64,
    pub cmdline: String,
}

/// `(ppid, start time)` of `pid`, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: the
    // fields after the last ')' are plain.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // state(0) ppid(1) ... starttime is field 22 of the line, 19 here.
    let ppid = fields.get(1)?.parse().ok()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((ppid, start))
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

fn all() -> Vec<(u32, u32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| stat(pid).map(|(ppid, start)| (pid, ppid, start)))
        .collect()
}

/// Every living descendant of `root` (children, grandchildren, ...).
pub(crate) fn descendants(root: u32) -> Vec<Proc> {
    let procs = all();
    let mut found: Vec<Proc> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, start) in &procs {
            if ppid == parent && !found.iter().any(|p| p.pid == pid) {
                found.push(Proc {
                    pid,
                    start,
                    cmdline: cmdline(pid),
                });
                frontier.push(pid);
            }
        }
    }
    found
}

/// Sends SIGINT to the process group `pgid`, as a terminal does on Ctrl-C.
pub(crate) fn interrupt_group(pgid: u32) {
    let pgid = i32::try_from(pgid).expect("a pid fits an i32");
    // SAFETY: kill(2) with a negative pid signals that process group.
    let rc = unsafe { libc::kill(-pgid, libc::SIGINT) };
    assert_eq!(
        rc,
        0,
        "kill(-{pgid}, SIGINT): {}",
        std::io::Error::last_os_error()
    );
}

/// The processes of `procs` still alive (same pid, same start time, not a
/// zombie) after waiting up to `wait` for them to go.
pub(crate) fn still_alive(procs: &[Proc], wait: Duration) -> Vec<Proc> {
    let deadline = Instant::now() + wait;
    loop {
        let alive: Vec<Proc> = procs
            .iter()
            .filter(|p| {
                let zombie = std::fs::read_to_string(format!("/proc/{}/stat", p.pid))
                    .ok()
                    .and_then(|t| t.rfind(')').map(|i| t[i + 2..].starts_with('Z')))
                    .unwrap_or(false);
                stat(p.pid).is_some_and(|(_, start)| start == p.start) && !zombie
            })
            .cloned()
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
