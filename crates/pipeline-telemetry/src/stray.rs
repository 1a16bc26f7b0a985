//! Stages that run outside any entered run while runs are live: the most
//! common mistake (`PipelineRun::start` followed by stage calls without
//! `scope`, `in_scope` or `enter`) loses the stage's `pipeline` tag and
//! never fails the run. It is said once per process, on stderr and as a
//! `tracing` warning.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs (and parts of runs) started and not yet ended.
static LIVE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Whether the mistake was already said.
static SAID: AtomicBool = AtomicBool::new(false);

/// A run started.
pub(crate) fn run_started() {
    LIVE_RUNS.fetch_add(1, Ordering::Relaxed);
}

/// A run ended (once per run).
pub(crate) fn run_ended() {
    let _ = LIVE_RUNS.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}

/// A call of `stage` found no current run: says so once when runs are
/// live (one relaxed load otherwise).
#[inline]
pub(crate) fn stage_outside_runs(stage: &'static str) {
    if LIVE_RUNS.load(Ordering::Relaxed) != 0 {
        say(stage);
    }
}

#[cold]
#[inline(never)]
fn say(stage: &'static str) {
    if SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    let live = LIVE_RUNS.load(Ordering::Relaxed);
    eprintln!(
        "pipeline-telemetry: stage `{stage}` ran outside any entered run while {live} run(s) \
         are live: its metrics carry no `pipeline` tag and its failure does not fail a run. \
         Enter the run where its stages are called: `run.scope(fut)`, `run.in_scope(|| ..)` \
         or `run.enter()` (said once)"
    );
    tracing::warn!(
        target: "pipeline_telemetry",
        stage,
        live_runs = live,
        "stage ran outside any entered run while runs are live; enter the run with scope, in_scope or enter"
    );
}
