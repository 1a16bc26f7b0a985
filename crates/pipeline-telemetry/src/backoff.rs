//! Backoff between attempts: fixed or exponential, capped, with jitter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How the delay before a retry is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the computed delay.
    None,
    /// Uniform between zero and the computed delay ("full jitter").
    #[default]
    Full,
    /// Uniform between half the computed delay and the delay ("equal
    /// jitter").
    Equal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Fixed,
    Exponential,
}

/// The delay before each retry.
///
/// ```
/// use std::time::Duration;
/// use pipeline_telemetry::{Backoff, Jitter};
///
/// let b = Backoff::exponential(Duration::from_millis(100))
///     .with_max(Duration::from_secs(2))
///     .with_jitter(Jitter::None);
/// assert_eq!(b.delay(1), Duration::from_millis(100)); // before the 2nd attempt
/// assert_eq!(b.delay(2), Duration::from_millis(200));
/// assert_eq!(b.delay(9), Duration::from_secs(2));     // capped
/// let (lo, hi) = Backoff::fixed(Duration::from_secs(1)).bounds(3);
/// assert_eq!((lo, hi), (Duration::ZERO, Duration::from_secs(1))); // full jitter
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    kind: Kind,
    base: Duration,
    max: Duration,
    jitter: Jitter,
}

impl Backoff {
    /// The same delay before every retry (full jitter by default).
    pub const fn fixed(delay: Duration) -> Self {
        Backoff {
            kind: Kind::Fixed,
            base: delay,
            max: delay,
            jitter: Jitter::Full,
        }
    }

    /// `base`, `2 × base`, `4 × base`, ... capped at 30 s unless
    /// [`with_max`](Self::with_max) says otherwise (full jitter by default).
    pub const fn exponential(base: Duration) -> Self {
        let cap = Duration::from_secs(30);
        Backoff {
            kind: Kind::Exponential,
            base,
            max: if base.as_nanos() > cap.as_nanos() {
                base
            } else {
                cap
            },
            jitter: Jitter::Full,
        }
    }

    /// No delay at all.
    pub const fn none() -> Self {
        Self::fixed(Duration::ZERO)
    }

    /// Caps the delay.
    pub const fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets the jitter.
    pub const fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry `n` (1 = before the second attempt) without
    /// jitter.
    fn ceiling(&self, n: u32) -> Duration {
        let d = match self.kind {
            Kind::Fixed => self.base,
            Kind::Exponential => {
                let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
                self.base.checked_mul(factor).unwrap_or(self.max)
            }
        };
        d.min(self.max)
    }

    /// The smallest and largest delay before retry `n` (1 = before the
    /// second attempt).
    pub fn bounds(&self, n: u32) -> (Duration, Duration) {
        let hi = self.ceiling(n);
        let lo = match self.jitter {
            Jitter::None => hi,
            Jitter::Full => Duration::ZERO,
            Jitter::Equal => hi / 2,
        };
        (lo, hi)
    }

    /// A delay before retry `n`, jittered within [`bounds`](Self::bounds).
    pub fn delay(&self, n: u32) -> Duration {
        let (lo, hi) = self.bounds(n);
        if hi <= lo {
            return hi;
        }
        let span = (hi - lo).as_nanos() as u64;
        lo + Duration::from_nanos(random() % span.saturating_add(1))
    }
}

/// A cheap random number (splitmix64 over a counter seeded by the clock):
/// jitter only needs to spread retries, not to be unpredictable.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut seed = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    if seed == 0 {
        seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        STATE.store(seed, Ordering::Relaxed);
    }
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jittered_delays_stay_in_bounds() {
        let b = Backoff::exponential(Duration::from_millis(10)).with_max(Duration::from_millis(70));
        for n in 1..20 {
            let (lo, hi) = b.bounds(n);
            assert!(hi <= Duration::from_millis(70));
            for _ in 0..50 {
                let d = b.delay(n);
                assert!(d >= lo && d <= hi, "{d:?} not in {lo:?}..{hi:?}");
            }
        }
        let e = b.with_jitter(Jitter::Equal);
        assert_eq!(
            e.bounds(2),
            (Duration::from_millis(10), Duration::from_millis(20))
        );
    }

    #[test]
    fn huge_retry_numbers_saturate() {
        let b = Backoff::exponential(Duration::from_secs(1)).with_jitter(Jitter::None);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
    }
}
