//! Past the hot path's fixed bounds, each next to the common case in the
//! same group:
//!
//! - `beyond_16_pipelines`: a `#[instrument_stage]` call site caches the
//!   handles of the first 16 pipeline names (by interned id) in its
//!   `static`; a run of any later pipeline finds its handles by a registry
//!   lookup on every call. The common case is a run of a cached pipeline.
//! - `beyond_64_threads`: each thread owns a shard for its lifetime: one
//!   of 64 built in, then one of up to 960 more allocated when that many
//!   threads live at once (with a smaller sample ring); threads past those
//!   1024 share one overflow shard (atomic counter cells and a
//!   multi-producer sample queue). Counter increment, distribution record
//!   and a whole stage call are timed on a thread that owns a built-in
//!   shard (`own_shard`), on one started while 64 other live threads hold
//!   every built-in shard (`65th_thread`), and on one started while 1024
//!   do (`1025th_thread`: the overflow shard). Each runs on a worker thread
//!   of its own that the criterion loop drives through a channel (same
//!   harness for all; the channel hop is outside the timed loop).
//!
//! A distribution recorded in a tight loop offers more samples than the
//! flusher takes (see `distribution_record`); the share sampled out is printed.
//!
//! `cargo bench --bench limits` (add `PT_BENCH_QUICK=1` for the quick mode).

use std::hint::black_box;
use std::io;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pipeline_telemetry::{instrument_stage, PipelineRun};
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle};

/// Built-in shards (`pipeline-telemetry-dogstatsd`'s `shard::STATIC_SHARDS`).
const STATIC_SHARDS: usize = 64;
/// Shards allocated past those (`shard::EXTRA_SHARDS`).
const EXTRA_SHARDS: usize = 960;

mod common;

#[instrument_stage(stage = "transform")]
#[inline(never)]
fn with_stage(x: u64) -> Result<u64, io::Error> {
    Ok(black_box(x).wrapping_mul(3))
}

fn beyond_16_pipelines(c: &mut Criterion) {
    common::start_ours();
    let mut g = c.benchmark_group("beyond_16_pipelines");
    // Interned first: ids 0..16 fill the call site's cache.
    let cached = PipelineRun::start("bench_cached", 1);
    for i in 0..16 {
        let r = PipelineRun::start(&format!("bench_p{i}"), 1);
        r.in_scope(|| with_stage(1)).ok();
        r.finish();
    }
    let beyond = PipelineRun::start("bench_beyond_16", 1);
    g.bench_function("stage_call/cached_pipeline", |b| {
        cached.in_scope(|| b.iter(|| with_stage(black_box(7))))
    });
    g.bench_function("stage_call/17th_pipeline", |b| {
        beyond.in_scope(|| b.iter(|| with_stage(black_box(7))))
    });
    g.finish();
    cached.finish();
    beyond.finish();
}

/// A thread that runs `f(iters)` when asked and returns the time it took.
struct Worker {
    tx: mpsc::Sender<u64>,
    rx: mpsc::Receiver<Duration>,
}

impl Worker {
    /// Starts the thread; `f(1)` runs once before this returns, so the
    /// thread has claimed its shard.
    fn spawn(f: impl Fn(u64) -> Duration + Send + 'static) -> Self {
        let (tx, work) = mpsc::channel::<u64>();
        let (done, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(f(1));
            while let Ok(iters) = work.recv() {
                if done.send(f(iters)).is_err() {
                    break;
                }
            }
        });
        let w = Worker { tx, rx };
        let _ = w.rx.recv();
        w
    }

    fn run(&self, iters: u64) -> Duration {
        self.tx.send(iters).expect("worker alive");
        self.rx.recv().expect("worker result")
    }
}

/// A timed loop of `iters` calls of one operation.
type Op = fn(u64) -> Duration;

fn ops() -> [(&'static str, Op); 3] {
    fn counter(iters: u64) -> Duration {
        let h = CounterHandle::register("bench.limits.count", &[("stage", "extract")]);
        let start = Instant::now();
        for _ in 0..iters {
            h.increment(black_box(1));
        }
        start.elapsed()
    }
    fn distribution(iters: u64) -> Duration {
        let h = DistributionHandle::register("bench.limits.duration", &[("stage", "extract")]);
        let start = Instant::now();
        for _ in 0..iters {
            h.record(black_box(0.0125));
        }
        start.elapsed()
    }
    fn stage(iters: u64) -> Duration {
        let run = PipelineRun::start("bench_threads", 1);
        let start = Instant::now();
        run.in_scope(|| {
            for _ in 0..iters {
                let _ = with_stage(black_box(7));
            }
        });
        let took = start.elapsed();
        run.finish();
        took
    }
    [
        ("counter_increment", counter),
        ("distribution_record", distribution),
        ("stage_call", stage),
    ]
}

/// `n` live, parked threads that each hold a shard until dropped.
struct Holders {
    release: Arc<Barrier>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Holders {
    fn spawn(n: usize) -> Self {
        let release = Arc::new(Barrier::new(n + 1));
        let ready = Arc::new(Barrier::new(n + 1));
        let threads = (0..n)
            .map(|_| {
                let (release, ready) = (release.clone(), ready.clone());
                std::thread::Builder::new()
                    .stack_size(64 * 1024)
                    .spawn(move || {
                        CounterHandle::register("bench.limits.hold", &[]).increment(1);
                        ready.wait();
                        release.wait();
                    })
                    .expect("spawn a holder thread")
            })
            .collect();
        ready.wait();
        Holders { release, threads }
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        self.release.wait();
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

fn beyond_64_threads(c: &mut Criterion) {
    let guard = common::start_ours();
    let workers = || -> Vec<Worker> { ops().iter().map(|(_, f)| Worker::spawn(*f)).collect() };
    let own = workers();
    // Hold every built-in shard with live, parked threads, then every
    // extra one (as many holders as shards: other threads of the bench
    // hold some too, and surplus holders only move on to the next kind).
    let built_in = Holders::spawn(STATIC_SHARDS);
    let extra = workers();
    let all_extra = Holders::spawn(EXTRA_SHARDS);
    let overflow = workers();

    let mut g = c.benchmark_group("beyond_64_threads");
    for (i, (name, _)) in ops().iter().enumerate() {
        for (case, w) in [
            ("own_shard", &own[i]),
            ("65th_thread", &extra[i]),
            ("1025th_thread", &overflow[i]),
        ] {
            let before = guard.stats().samples_sampled_out;
            let mut recorded = 0u64;
            g.bench_function(format!("{name}/{case}"), |b| {
                b.iter_custom(|iters| {
                    recorded += iters;
                    w.run(iters)
                })
            });
            if *name != "counter_increment" {
                guard.flush();
                println!(
                    "beyond_64_threads/{name}/{case}: {} samples sampled out (in |@rate) \
                     of {recorded} recorded",
                    guard.stats().samples_sampled_out - before
                );
            }
        }
    }
    g.finish();
    drop(all_extra);
    drop(built_in);
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = beyond_16_pipelines, beyond_64_threads
}
criterion_main!(benches);
