//! One failure, one count: when stages nest and an outer stage passes an
//! inner stage's error on (`?`), the failure is counted once, by the
//! innermost stage that failed.
//!
//! Each stage call has a frame: what the stage calls made inside it
//! reported when they ended. The frame of the stage running now is one
//! plain thread-local cell, saved and restored like a stack: a sync stage
//! puts a fresh frame in place when it starts and restores its caller's
//! when it ends; an async stage puts its own frame in place for each poll
//! and takes it back after, so the frame follows the stage's future (and
//! its task) from worker to worker, never the thread. No lock, no
//! allocation: a frame is a `Copy` value of two words.
//!
//! When a stage ends, it reports to the frame around it (its caller's):
//! `Ok` clears it, a failure leaves its `error_type`. A stage that ends in
//! `Err` while the last stage call inside it failed is taken to pass that
//! failure on: it marks its span and its status, and does not count
//! `pipeline.errors` again. The frame is what stages without a run go by.
//!
//! In a run, the failures counted are recorded in the run itself
//! ([`RunFailures`]), which follows the work to every thread and task the
//! run is entered in (`spawn_blocking`, `tokio::spawn` with `run.scope`,
//! the branches of a `join!`). A stage notes the run's failure sequence
//! when it starts (one relaxed load). When it fails, the `Display` of its
//! error and of each error in its `source()` chain is hashed (through a
//! `fmt::Write` hasher: no allocation); the failure is passed on, not
//! counted again, when one of those hashes matches a failure recorded in
//! the run since the stage started. An error with no `Display` falls back
//! to "any failure recorded since the stage started is passed on".

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::outcome::{ErrorView, Message};

/// Failures a run keeps to tell a passed-on failure from a new one.
const RING: usize = 16;

/// Errors of a `source()` chain hashed at most.
const CHAIN: usize = 8;

/// One failure recorded in a run.
#[derive(Debug, Clone, Copy, Default)]
struct Recorded {
    /// Its place in the run's sequence (from 1; 0: an empty slot).
    seq: u64,
    /// The hash of its error's `Display`; `None` without one.
    hash: Option<u64>,
    error_type: &'static str,
}

/// The failures recorded in one run, shared by everything that runs in
/// it. Read without a lock when a stage starts; locked only when a stage
/// fails.
#[derive(Debug, Default)]
pub(crate) struct RunFailures {
    /// Failures recorded so far (the sequence of the last one).
    seq: AtomicU64,
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
    /// The run's failure sequence now (noted when a stage starts).
    #[inline]
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    /// Whether any failure was recorded in the run.
    pub(crate) fn any(&self) -> bool {
        self.seq() > 0
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

    /// Settles the failure `err` of a stage that started when the run's
    /// sequence was `since`: passed on iff its error (or one in its
    /// `source()` chain) has the `Display` of a failure recorded since
    /// then (any such failure, for an error with no `Display`). Records
    /// it either way, so that a stage around this one that passes this
    /// stage's error on finds it too.
    pub(crate) fn settle(&self, since: u64, err: &ErrorView<'_>) -> Settled {
        let mut chain = [0u64; CHAIN];
        let n = hash_chain(err, &mut chain);
        let chain = &chain[..n];
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let last = self.seq.load(Ordering::Relaxed);
        let since_start = ring.iter().filter(|r| r.seq > since && r.seq <= last);
        let found = if chain.is_empty() {
            since_start.max_by_key(|r| r.seq).map(|r| r.error_type)
        } else {
            since_start
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
        let seq = last + 1;
        if let Some(slot) = ring.get_mut((seq % RING as u64) as usize) {
            *slot = Recorded {
                seq,
                hash: chain.first().copied(),
                error_type,
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

/// What the stage calls inside one stage call reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The `error_type` of the failure the last stage call inside this one
    /// ended with, if it failed (`None`: no call yet, or it succeeded).
    failed_inner: Option<&'static str>,
}

impl Frame {
    /// The inner failure this stage's own error passes on, if any.
    #[inline]
    pub(crate) fn passed_on(&self) -> Option<&'static str> {
        self.failed_inner
    }
}

thread_local! {
    static FRAME: Cell<Frame> = const { Cell::new(Frame { failed_inner: None }) };
}

/// Puts `frame` in place as the current stage's frame; returns the one it
/// replaces (the caller's, to put back with [`restore`]).
#[inline]
pub(crate) fn enter(frame: Frame) -> Frame {
    FRAME.try_with(|f| f.replace(frame)).unwrap_or_default()
}

/// Puts the caller's frame `outer` back; returns the frame of the stage
/// that ends or yields (what its inner calls reported).
#[inline]
pub(crate) fn restore(outer: Frame) -> Frame {
    FRAME.try_with(|f| f.replace(outer)).unwrap_or_default()
}

/// Reports the end of a stage call to the frame around it: `None` for a
/// success, the failure's `error_type` otherwise.
#[inline]
pub(crate) fn report(failed: Option<&'static str>) {
    let _ = FRAME.try_with(|f| {
        f.set(Frame {
            failed_inner: failed,
        })
    });
}

/// Forgets what the current stage's inner calls reported (a new attempt of
/// a retried stage starts from nothing).
#[inline]
pub(crate) fn clear() {
    report(None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_nest_like_a_stack() {
        // An outer stage starts, an inner one starts, fails and ends.
        let caller = enter(Frame::default());
        let outer = enter(Frame::default());
        assert_eq!(
            restore(outer),
            Frame::default(),
            "nothing inside the inner call"
        );
        report(Some("io::Error"));
        // The outer stage sees the failure it passes on; its caller gets
        // its own frame back.
        assert_eq!(restore(caller).passed_on(), Some("io::Error"));
        // A success after a failure clears it.
        let caller = enter(Frame::default());
        report(Some("LoadError"));
        report(None);
        assert_eq!(restore(caller).passed_on(), None);
    }
}
