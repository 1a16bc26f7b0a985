//! One failure, one count in a run, wherever its stages run: the failures
//! counted are recorded in the run itself, which follows the work to every
//! thread and task the run is entered in (`spawn_blocking` with
//! `run.in_scope`, `tokio::spawn` with `run.scope`, the branches of a
//! `join!`).
//!
//! Each stage call of a run gets an id when it starts (the run's count of
//! stage starts, one atomic add), notes the run's failure sequence (one
//! relaxed load) and its parent: the stage running around it, on its
//! thread or in its task, or the stage a [`Scoped`](crate::Scoped) future
//! was made in (a thread-local cell, saved and restored like a stack; 0
//! when unknown: a stage on a thread where the run was entered outside any
//! stage). When a stage fails, the `Display` of its error and of each
//! error in its `source()` chain is hashed (through a `fmt::Write` hasher:
//! no allocation). The failure is passed on, not counted again, when one of
//! those hashes matches a failure recorded since the stage started by a
//! stage inside it: one whose parent is this stage, or, parent unknown,
//! one that started after it. An error with no `Display` passes on any
//! such failure. Sibling stages (the branches of a `join!`, tasks spawned
//! in a stage) are never inside each other, so each counts its own
//! failure, even with the same message.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::outcome::{ErrorView, Message};

/// Failures a run keeps to tell a passed-on failure from a new one.
const RING: usize = 16;

/// Errors of a `source()` chain hashed at most.
const CHAIN: usize = 8;

thread_local! {
    /// The id of the stage call of a run running now on this thread (0:
    /// none known).
    static STAGE: Cell<u64> = const { Cell::new(0) };
}

/// The id of the stage call running now on this thread (0: none known).
#[inline]
pub(crate) fn current_stage() -> u64 {
    STAGE.try_with(Cell::get).unwrap_or(0)
}

/// Makes `id` the stage running now; returns the one it replaces (to put
/// back with [`restore_stage`]).
#[inline]
pub(crate) fn enter_stage(id: u64) -> u64 {
    STAGE.try_with(|s| s.replace(id)).unwrap_or(0)
}

/// Puts the stage `prev` back as the one running now.
#[inline]
pub(crate) fn restore_stage(prev: u64) {
    let _ = STAGE.try_with(|s| s.set(prev));
}

/// One stage call in a run, as its failure is settled.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StageInRun {
    /// Its id in the run (from 1; 0: not in a run).
    pub(crate) id: u64,
    /// The stage it runs inside (0: unknown).
    pub(crate) parent: u64,
    /// The run's failure sequence when it started.
    pub(crate) since: u64,
}

/// One failure recorded in a run.
#[derive(Debug, Clone, Copy, Default)]
struct Recorded {
    /// Its place in the run's sequence (from 1; 0: an empty slot).
    seq: u64,
    /// The hash of its error's `Display`; `None` without one.
    hash: Option<u64>,
    error_type: &'static str,
    /// The stage call that failed, and the one around it.
    stage: u64,
    parent: u64,
}

impl Recorded {
    /// Whether the stage call that failed ran inside `me`.
    fn inside(&self, me: &StageInRun) -> bool {
        self.seq > me.since && (self.parent == me.id || (self.parent == 0 && self.stage > me.id))
    }
}

/// The failures recorded in one run, shared by everything that runs in
/// it. Read without a lock when a stage starts; locked only when a stage
/// fails.
#[derive(Debug, Default)]
pub(crate) struct RunFailures {
    /// Failures recorded so far (the sequence of the last one).
    seq: AtomicU64,
    /// Stage calls started so far (the id of the last one).
    starts: AtomicU64,
    ring: Mutex<[Recorded; RING]>,
}

/// What a failed stage of a run does with its failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// A new failure: the stage counts it (with its own `error_type`).
    Counted(&'static str),
    /// The failure of a stage inside this one, already counted there: the
    /// stage marks its span and status with that `error_type`.
    PassedOn(&'static str),
}

impl RunFailures {
    /// A stage call starts in the run, inside the stage `parent`.
    #[inline]
    pub(crate) fn start(&self, parent: u64) -> StageInRun {
        StageInRun {
            id: self.starts.fetch_add(1, Ordering::Relaxed) + 1,
            parent,
            since: self.seq.load(Ordering::Relaxed),
        }
    }

    /// Whether any failure was recorded in the run.
    pub(crate) fn any(&self) -> bool {
        self.seq.load(Ordering::Relaxed) > 0
    }

    /// The `error_type` of the last failure recorded in the run (the inner
    /// stage's when the last failed stage passed it on).
    pub(crate) fn last_error_type(&self) -> Option<&'static str> {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let last = self.seq.load(Ordering::Relaxed);
        ring.iter()
            .find(|r| r.seq == last && last > 0)
            .map(|r| r.error_type)
    }

    /// Settles the failure `err` of the stage call `me`: passed on iff its
    /// error (or one in its `source()` chain) has the `Display` of a
    /// failure recorded by a stage inside it (any such failure, for an
    /// error with no `Display`). Records it either way, so that a stage
    /// around this one that passes this stage's error on finds it too.
    pub(crate) fn settle(&self, me: &StageInRun, err: &ErrorView<'_>) -> Settled {
        let mut chain = [0u64; CHAIN];
        let n = hash_chain(err, &mut chain);
        let chain = &chain[..n];
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let inside = ring.iter().filter(|r| r.inside(me));
        let found = if chain.is_empty() {
            inside.max_by_key(|r| r.seq).map(|r| r.error_type)
        } else {
            inside
                .filter(|r| r.hash.is_some_and(|h| chain.contains(&h)))
                .max_by_key(|r| r.seq)
                .map(|r| r.error_type)
        };
        let settled = match found {
            Some(t) => Settled::PassedOn(t),
            None => Settled::Counted(err.error_type),
        };
        let error_type = match settled {
            Settled::Counted(t) | Settled::PassedOn(t) => t,
        };
        let seq = self.seq.load(Ordering::Relaxed) + 1;
        if let Some(slot) = ring.get_mut((seq % RING as u64) as usize) {
            *slot = Recorded {
                seq,
                hash: chain.first().copied(),
                error_type,
                stage: me.id,
                parent: me.parent,
            };
        }
        self.seq.store(seq, Ordering::Relaxed);
        settled
    }
}

/// FNV-1a over what is written to it.
struct Hasher(u64);

impl fmt::Write for Hasher {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        Ok(())
    }
}

fn hash_display(d: &dyn fmt::Display) -> u64 {
    let mut h = Hasher(0xcbf2_9ce4_8422_2325);
    let _ = write!(h, "{d}");
    h.0
}

/// Hashes the `Display` of `err` and of each error of its `source()`
/// chain into `out`; returns how many (0: the error has no `Display`).
fn hash_chain(err: &ErrorView<'_>, out: &mut [u64; CHAIN]) -> usize {
    match err.message {
        Message::Display(d) => {
            out[0] = hash_display(d);
            1
        }
        Message::Error(e) => {
            let mut n = 0;
            let mut next: Option<&dyn std::error::Error> = Some(e);
            while let (Some(e), Some(slot)) = (next, out.get_mut(n)) {
                *slot = hash_display(e);
                n += 1;
                next = e.source();
            }
            n
        }
        Message::Debug(_) | Message::None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Down;
    impl fmt::Display for Down {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection refused")
        }
    }

    #[test]
    fn only_failures_of_stages_inside_are_passed_on() {
        let run = RunFailures::default();
        let outer = run.start(0);
        let a = run.start(outer.id);
        let b = run.start(outer.id);
        let err = ErrorView::new(&Down);
        // Two siblings failing with the same message: two failures.
        assert_eq!(run.settle(&a, &err), Settled::Counted("Down"));
        assert_eq!(run.settle(&b, &err), Settled::Counted("Down"));
        // The stage around them passes one on.
        assert_eq!(run.settle(&outer, &err), Settled::PassedOn("Down"));
        // Parent unknown (another thread): inside iff it started later.
        let top = run.start(0);
        let elsewhere = run.start(0);
        assert_eq!(run.settle(&elsewhere, &err), Settled::Counted("Down"));
        assert_eq!(run.settle(&top, &err), Settled::PassedOn("Down"));
        assert_eq!(run.last_error_type(), Some("Down"));
    }
}
