//! The rate limit of rule decisions: a port of ddtrace-py 4.16's
//! `RateLimiter` (`ddtrace/internal/rate_limiter.py`), a token bucket of
//! `rate_limit` tokens refilled continuously over a one-second window, with
//! the effective rate (`_dd.limit_psr`) averaged over this window and the
//! previous one.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// ddtrace's default `DD_TRACE_RATE_LIMIT`: 100 traces a second.
pub(crate) const DEFAULT_RATE_LIMIT: i64 = 100;

const WINDOW_NS: f64 = 1e9;

#[derive(Debug)]
struct State {
    tokens: f64,
    last_update_ns: i64,
    current_window_ns: i64,
    tokens_allowed: u64,
    tokens_total: u64,
    prev_window_rate: Option<f64>,
}

/// A token bucket shared by every thread (ddtrace takes a lock too; it is
/// consulted only for decisions of a sampling rule).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate_limit: i64,
    state: Mutex<State>,
    epoch: Instant,
}

impl RateLimiter {
    /// `rate_limit` traces a second: 0 allows none, a negative limit all.
    pub(crate) fn new(rate_limit: i64) -> Self {
        RateLimiter::at(rate_limit, 0)
    }

    /// A limiter whose clock starts at `now_ns` (ddtrace's constructor reads
    /// `time.monotonic_ns()`).
    pub(crate) fn at(rate_limit: i64, now_ns: i64) -> Self {
        RateLimiter {
            rate_limit,
            state: Mutex::new(State {
                tokens: rate_limit as f64,
                last_update_ns: now_ns,
                current_window_ns: 0,
                tokens_allowed: 0,
                tokens_total: 0,
                prev_window_rate: None,
            }),
            epoch: Instant::now(),
        }
    }

    /// The limit, traces a second.
    pub(crate) fn rate_limit(&self) -> i64 {
        self.rate_limit
    }

    /// `is_allowed` followed by `effective_rate`, on the monotonic clock
    /// (nanoseconds since the limiter was made; never 0, which ddtrace's
    /// window start reads as "no window yet").
    pub(crate) fn check(&self) -> (bool, f64) {
        let now = i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX);
        self.check_at(now.max(1))
    }

    /// [`check`](Self::check) at `now_ns`.
    pub(crate) fn check_at(&self, now_ns: i64) -> (bool, f64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let allowed = self.is_allowed(&mut s, now_ns);
        // `_update_rate_counts`.
        if s.current_window_ns == 0 {
            s.current_window_ns = now_ns;
        } else if (now_ns - s.current_window_ns) as f64 >= WINDOW_NS {
            s.prev_window_rate = Some(current_window_rate(&s));
            s.tokens_allowed = 0;
            s.tokens_total = 0;
            s.current_window_ns = now_ns;
        }
        if allowed {
            s.tokens_allowed += 1;
        }
        s.tokens_total += 1;
        // `effective_rate`.
        let rate = match s.prev_window_rate {
            None => current_window_rate(&s),
            Some(prev) => (current_window_rate(&s) + prev) / 2.0,
        };
        (allowed, rate)
    }

    /// `_is_allowed` with `_replenish`.
    fn is_allowed(&self, s: &mut State, now_ns: i64) -> bool {
        if self.rate_limit == 0 {
            return false;
        }
        if self.rate_limit < 0 {
            return true;
        }
        let max_tokens = self.rate_limit as f64;
        if s.tokens != max_tokens {
            let elapsed = (now_ns - s.last_update_ns) as f64 / WINDOW_NS;
            s.tokens = max_tokens.min(s.tokens + elapsed * self.rate_limit as f64);
        }
        s.last_update_ns = now_ns;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn current_window_rate(s: &State) -> f64 {
    if s.tokens_total == 0 {
        1.0
    } else {
        s.tokens_allowed as f64 / s.tokens_total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_behaviour() {
        let none = RateLimiter::at(0, 1);
        assert_eq!(none.check_at(2), (false, 0.0));
        let all = RateLimiter::at(-1, 1);
        assert!((0..1000).all(|i| all.check_at(i + 1).0));

        // A full bucket of 3, refilled at 3 a second.
        let l = RateLimiter::at(3, 1);
        let got: Vec<bool> = (0..5).map(|_| l.check_at(10).0).collect();
        assert_eq!(got, [true, true, true, false, false]);
        // 0.3 s later 0.9 tokens: still none.
        assert!(!l.check_at(10 + 300_000_000).0);
        // Next window: refilled; its rate (1 of 1) averaged with the
        // previous window's (3 of 6).
        assert_eq!(l.check_at(10 + 1_000_000_000), (true, (1.0 + 0.5) / 2.0));
    }

    /// Our limiter and ddtrace 4.16's `RateLimiter`
    /// (`tests/peers/ddtrace_sampler.py`), on the same simulated clock:
    /// bursts, pauses and window changes, for several limits.
    #[test]
    fn matches_ddtrace_on_a_simulated_clock() {
        let mut peer =
            pipeline_telemetry_test_support::python::JsonPeer::start("ddtrace_sampler.py", &[]);
        let mut seed = 7_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for limit in [1_i64, 3, 10, 100, 0, -1] {
            let start = 1_000;
            let mut now = start;
            let times: Vec<i64> = (0..3000)
                .map(|_| {
                    // Mostly bursts (same or close instants), sometimes a
                    // pause of up to 2.5 s.
                    now += match next() % 10 {
                        0..=5 => 0,
                        6..=8 => (next() % 5_000_000) as i64,
                        _ => (next() % 2_500_000_000) as i64,
                    };
                    now
                })
                .collect();
            let req = serde_json::json!({"op": "limiter", "rate_limit": limit, "start": start, "times": times});
            let theirs = peer.ask(&req);
            let ours = RateLimiter::at(limit, start);
            let mut allowed_count = 0;
            for (i, t) in times.iter().enumerate() {
                let (allowed, rate) = ours.check_at(*t);
                let want = (
                    theirs["allowed"][i].as_bool(),
                    theirs["effective"][i].as_f64(),
                );
                assert_eq!((Some(allowed), Some(rate)), want, "limit {limit}, call {i}");
                allowed_count += usize::from(allowed);
            }
            assert!(limit != 3 || (0 < allowed_count && allowed_count < times.len()));
        }
    }
}
