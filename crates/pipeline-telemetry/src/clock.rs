//! The clock of stage timings, chosen by measurement
//! (`benches/stage_overhead.rs`, group `stage_clock`): a start and an
//! elapsed read with `std::time::Instant` (a vDSO `clock_gettime` each)
//! cost more than with `quanta`, and `quanta::Clock::raw` (the bare TSC
//! read, scaled once per duration instead of once per read, and without
//! `quanta::Instant::now`'s per-call check for a mocked clock) costs the
//! least. Where the TSC is not usable, quanta falls back to the OS
//! monotonic clock by itself.

use std::sync::LazyLock;

/// Calibrated once per process (shared with quanta's global calibration).
static CLOCK: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);

/// A point in time, in the clock's raw unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instant(u64);

/// Now.
#[inline]
pub(crate) fn now() -> Instant {
    Instant(CLOCK.raw())
}

/// Seconds elapsed since `start` (0 if the clock went backwards).
#[inline]
pub(crate) fn seconds_since(start: Instant) -> f64 {
    let clock = &*CLOCK;
    clock.delta_as_nanos(start.0, clock.raw()) as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_wall_time_in_seconds() {
        // Bounded above by the standard clock around the same interval, not
        // by a fixed limit: a loaded machine may stall the thread for seconds.
        let outer = std::time::Instant::now();
        let start = now();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let secs = seconds_since(start);
        let outer = outer.elapsed().as_secs_f64();
        assert!(secs >= 0.019, "{secs}");
        assert!(secs <= outer + 0.001, "{secs} > {outer}");
    }
}
