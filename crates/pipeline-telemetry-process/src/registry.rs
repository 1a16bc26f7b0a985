//! The process groups of the stages running in this process, for an
//! application that handles SIGINT or SIGTERM itself and wants its
//! stages' children to get them, as they would have without a group of
//! their own.

use std::collections::BTreeSet;
use std::sync::Mutex;

use rustix::process::{kill_process_group, Signal};

use crate::group::Group;

static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A group in the registry until dropped.
#[derive(Debug)]
pub(crate) struct Registered(Group);

impl Registered {
    pub(crate) fn new(group: Group) -> Self {
        if let Ok(mut live) = LIVE.lock() {
            live.insert(group.id());
        }
        Registered(group)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock() {
            live.remove(&self.0.id());
        }
    }
}

fn signal_all(signal: Signal) -> usize {
    let groups: Vec<Group> = match LIVE.lock() {
        Ok(live) => live.iter().filter_map(|&id| Group::of_id(id)).collect(),
        Err(_) => return 0,
    };
    groups
        .iter()
        .filter(|g| kill_process_group(g.pid(), signal).is_ok())
        .count()
}

/// Sends SIGINT to the process group of every [`ProcessStage`] running in
/// this process, and returns how many groups got it.
///
/// The child of a stage runs in a process group of its own, so Ctrl-C in a
/// terminal (SIGINT to the terminal's foreground group) does not reach it.
/// When this process dies of that SIGINT, the stage's watchdog ends the
/// group; an application that handles SIGINT itself (a graceful shutdown)
/// calls this to give its children the Ctrl-C they would have had, and
/// lets them stop as they do on Ctrl-C (dbt cancels its queries). Not for
/// use inside a signal handler (it takes a lock): call it from the task or
/// thread that learns of the signal.
///
/// ```no_run
/// // Where the application learns of Ctrl-C (after
/// // `tokio::signal::ctrl_c().await`, in a signal-hook thread, ...):
/// let n = pipeline_telemetry_process::interrupt_children();
/// eprintln!("Ctrl-C passed on to {n} stage(s)");
/// ```
///
/// [`ProcessStage`]: crate::ProcessStage
pub fn interrupt_children() -> usize {
    signal_all(Signal::INT)
}

/// Sends SIGTERM to the process group of every [`ProcessStage`] running in
/// this process, and returns how many groups got it: for an application
/// that handles SIGTERM itself (a supervisor's stop) and wants its stages'
/// children stopped too. As [`interrupt_children`], not for use inside a
/// signal handler.
///
/// [`ProcessStage`]: crate::ProcessStage
pub fn terminate_children() -> usize {
    signal_all(Signal::TERM)
}
