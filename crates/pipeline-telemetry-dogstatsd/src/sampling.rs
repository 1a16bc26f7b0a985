//! Client-side sampling: a per-thread xorshift generator, no lock, no
//! allocation.

use std::cell::Cell;

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// A thread's first state: its stack address and the clock (quality is
/// not critical); out of line, as it runs once per thread.
#[cold]
#[inline(never)]
fn seed() -> u64 {
    let local = 0u8;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    ((std::ptr::addr_of!(local) as u64) ^ t ^ 0x9E37_79B9_7F4A_7C15) | 1
}

/// The calling thread's next random word (0 while its thread-locals are
/// being torn down).
#[inline]
fn next_u64() -> u64 {
    STATE
        .try_with(|s| {
            let mut x = s.get();
            if x == 0 {
                x = seed();
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
        .unwrap_or(0)
}

/// Whether to keep a call sampled at `rate` (in `(0, 1]`).
#[inline]
pub(crate) fn keep(rate: f64) -> bool {
    if rate >= 1.0 {
        return true;
    }
    // 53 random bits as a float in [0, 1).
    ((next_u64() >> 11) as f64) * (1.0 / (1u64 << 53) as f64) < rate
}

/// Whether to keep a sample offered at thinning `level`: true with
/// probability 2^-level (always for level 0).
#[inline]
pub(crate) fn keep_at_level(level: u32) -> bool {
    level == 0 || next_u64() >> (64 - level.min(63)) == 0
}

/// How many offers at thinning `level` (at least 1) to leave out before
/// the next one kept, when each is kept with probability 2^-level: a
/// geometric draw, `floor(ln U / ln(1 - 2^-level))` with `U` uniform in
/// (0, 1] on 53 bits, so that `P(skips >= k) = (1 - 2^-level)^k` up to
/// the grid. One draw replaces the `2^level` draws of [`keep_at_level`]
/// it stands for (reservoir sampling's skip, as in Algorithm L).
pub(crate) fn skips_at_level(level: u32) -> u64 {
    let u = ((next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let p = (-f64::from(level.min(63))).exp2();
    // Both logarithms are negative (or `ln u` zero): the ratio is >= 0.
    (u.ln() / (-p).ln_1p()) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_about_the_rate() {
        let kept = (0..100_000).filter(|_| super::keep(0.25)).count();
        assert!((20_000..30_000).contains(&kept), "{kept}");
        assert!((0..1000).all(|_| super::keep(1.0)));
    }

    #[test]
    fn keeps_about_one_in_two_to_the_level() {
        assert!((0..1000).all(|_| super::keep_at_level(0)));
        // 2^18 draws at 1/8: mean 32768, sd 170; a 6-sd band.
        let kept = (0..1u32 << 18).filter(|_| super::keep_at_level(3)).count();
        assert!((31_700..33_800).contains(&kept), "{kept}");
    }

    /// The skips drawn at a level are geometric with success 2^-level:
    /// their mean is 2^level - 1, and a run of none (the very next offer
    /// kept) comes with probability 2^-level.
    #[test]
    fn skips_are_geometric_at_the_levels_chance() {
        for level in [1u32, 6, 10] {
            let p = (-f64::from(level)).exp2();
            let n = 200_000u32;
            let draws: Vec<u64> = (0..n).map(|_| super::skips_at_level(level)).collect();
            let mean = draws.iter().sum::<u64>() as f64 / f64::from(n);
            // The mean's sd is sqrt(1 - p) / p / sqrt(n): a 6-sd band.
            let sd = (1.0 - p).sqrt() / p / f64::from(n).sqrt();
            assert!((mean - (1.0 / p - 1.0)).abs() < 6.0 * sd, "{level}: {mean}");
            let zeros = draws.iter().filter(|&&g| g == 0).count() as f64;
            let sd0 = (f64::from(n) * p * (1.0 - p)).sqrt();
            assert!(
                (zeros - f64::from(n) * p).abs() < 6.0 * sd0,
                "{level}: {zeros}"
            );
            // The tail: P(skips >= 2^level) = (1 - p)^(2^level), about 1/e.
            let k = 1u64 << level;
            let tail = draws.iter().filter(|&&g| g >= k).count() as f64;
            let q = (1.0 - p).powf(k as f64);
            let sdq = (f64::from(n) * q * (1.0 - q)).sqrt();
            assert!(
                (tail - f64::from(n) * q).abs() < 6.0 * sdq,
                "{level}: {tail}"
            );
        }
    }
}
