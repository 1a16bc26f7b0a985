//! The hot path allocates nothing: a counting global allocator checks that
//! a stage call (sync and async), a counter increment and a distribution
//! record make no allocation on the calling thread after warm-up (metrics
//! path, no tracing subscriber installed).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use pipeline_telemetry::{instrument_stage, testing::Capture, PipelineRun, Stage};
use pipeline_telemetry_dogstatsd::{CounterHandle, DistributionHandle};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; only counts calls per thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The stage whose records the loop counts.
static LOAD_STAGE: Stage = Stage::new("load");

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

#[instrument_stage]
fn transform(x: u64) -> Result<u64, std::io::Error> {
    Ok(x.wrapping_mul(3))
}

#[instrument_stage(stage = "load")]
async fn load(x: u64) -> Result<u64, std::io::Error> {
    pipeline_telemetry::record_records(1);
    Ok(x + 1)
}

fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[test]
fn stage_calls_allocate_nothing_after_warm_up() {
    let capture = Capture::start();
    let run = PipelineRun::start("alloc_free", "1");
    let entered = run.enter();
    let counter = CounterHandle::register("alloc.counter", &[("k", "v")]);
    let dist = DistributionHandle::register("alloc.dist", &[("k", "v")]);
    // Warm-up: call-site handles, this thread's shard, segment and ring.
    let _ = transform(1);
    let _ = poll_once(load(1));
    counter.increment(1);
    dist.record(1.0);
    run.record_records(&LOAD_STAGE, 1);
    run.in_scope(|| LOAD_STAGE.record_records(1));

    let before = allocs();
    for i in 0..1_000u64 {
        std::hint::black_box(transform(i).ok());
        std::hint::black_box(poll_once(load(i)));
        counter.increment(1);
        dist.record(i as f64);
        run.record_records(&LOAD_STAGE, 1);
    }
    let after = allocs();
    drop(entered);
    run.finish();
    drop(capture);
    assert_eq!(after - before, 0, "allocations on the hot path");
}
