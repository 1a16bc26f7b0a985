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
}
