//! Instructions per hot-path call, ours against metrics-exporter-dogstatsd,
//! for `valgrind --tool=callgrind` (`scripts/instructions.sh` runs it and
//! prints the table). Not a criterion bench: each case is a non-inlined
//! wrapper called `CALLS` times, and callgrind's inclusive count of the
//! wrapper divided by `CALLS` is the figure (the wrapper's own call and
//! return, about 3 instructions, included on both sides alike).
//!
//! Distributions are recorded in chunks of 2,000 samples, each followed by a
//! flush outside the wrapper, so that ours measures the common case (the
//! flusher keeps up) rather than a ring that fills because valgrind runs
//! one thread at a time.
//!
//! A distribution thinned at the source (`ours_distribution_thinned`) is
//! measured at the level a flush sets after 2^23 samples in one interval
//! (8: one in 256 samples reaches the buffer), printed before and after
//! the calls; ours flushes only when told to, so that no timer splits
//! that interval.
//!
//! `cargo bench --bench instructions` runs the calls without callgrind
//! (nothing is timed).

use std::hint::black_box;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use pipeline_telemetry_dogstatsd::{
    CounterHandle, DistributionHandle, DogStatsDBuilder, DogStatsDRecorder, Target,
};

mod common;

/// Calls per case.
const CALLS: u64 = 200_000;
/// Samples between two flushes of ours.
const CHUNK: u64 = 2_000;
static META: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn key(name: &str) -> Key {
    Key::from_parts(name.to_owned(), vec![Label::new("stage", "extract")])
}

// Each wrapper's body differs (its constant), so that the compiler cannot
// merge two of them into one symbol.

#[inline(never)]
fn ours_counter_handle(h: &CounterHandle) {
    h.increment(black_box(1));
}

#[inline(never)]
fn ours_metrics_counter(c: &Counter) {
    c.increment(black_box(2));
}

#[inline(never)]
fn peer_metrics_counter(c: &Counter) {
    c.increment(black_box(3));
}

#[inline(never)]
fn ours_metrics_gauge(g: &Gauge) {
    g.set(black_box(4.0));
}

#[inline(never)]
fn peer_metrics_gauge(g: &Gauge) {
    g.set(black_box(5.0));
}

#[inline(never)]
fn ours_distribution_handle(h: &DistributionHandle) {
    h.record(black_box(6.0));
}

#[inline(never)]
fn ours_distribution_thinned(h: &DistributionHandle) {
    h.record(black_box(9.0));
}

#[inline(never)]
fn ours_metrics_histogram(h: &Histogram) {
    h.record(black_box(7.0));
}

#[inline(never)]
fn peer_metrics_histogram(h: &Histogram) {
    h.record(black_box(8.0));
}

fn main() {
    // Ours with its defaults but for the flush interval: only the explicit
    // flushes below end an interval, so the level a series is thinned to at
    // the source does not depend on when a timer fired (under callgrind,
    // the 2^23 samples below outlast the default 1 s interval).
    let guard = DogStatsDBuilder::new(Target::Udp(common::blackhole_addr()))
        .with_flush_interval(Duration::from_secs(3600))
        .start()
        .expect("start the exporter");
    let addr = common::blackhole_addr();
    let peer = common::metrics_exporter_dogstatsd(&addr, None, true);

    let handle = CounterHandle::register("bench.instr.counter", &[("stage", "extract")]);
    let ours_counter = DogStatsDRecorder.register_counter(&key("bench.instr.mcounter"), &META);
    let peer_counter = peer.register_counter(&key("bench.instr.counter"), &META);
    let ours_gauge = DogStatsDRecorder.register_gauge(&key("bench.instr.gauge"), &META);
    let peer_gauge = peer.register_gauge(&key("bench.instr.gauge"), &META);
    let dist = DistributionHandle::register("bench.instr.dist", &[("stage", "extract")]);
    let ours_hist = DogStatsDRecorder.register_histogram(&key("bench.instr.hist"), &META);
    let peer_hist = peer.register_histogram(&key("bench.instr.hist"), &META);

    for _ in 0..CALLS {
        ours_counter_handle(&handle);
        ours_metrics_counter(&ours_counter);
        peer_metrics_counter(&peer_counter);
        ours_metrics_gauge(&ours_gauge);
        peer_metrics_gauge(&peer_gauge);
    }
    for _ in 0..CALLS / CHUNK {
        for _ in 0..CHUNK {
            ours_distribution_handle(&dist);
            ours_metrics_histogram(&ours_hist);
            peer_metrics_histogram(&peer_hist);
        }
        guard.flush();
    }
    // A series recorded far more often than it sends: 2^23 samples in one
    // interval thin it at the source to level 8 for the next one.
    let heavy = DistributionHandle::register("bench.instr.heavy", &[("stage", "extract")]);
    guard.flush();
    (0..1u64 << 23).for_each(|_| heavy.record(black_box(1.0)));
    guard.flush();
    let level = heavy.series().source_level();
    for _ in 0..CALLS {
        ours_distribution_thinned(&heavy);
    }
    println!(
        "instructions: source level {level} before the thinned calls, {} after",
        heavy.series().source_level()
    );
    println!("instructions: {CALLS} calls per case");
}
