//! The ring and the reservoir together, with the flusher stalled: a
//! time-ordered ramp pushed into one ring that nobody drains until the end
//! of the interval. Every sample must have had the same chance to be sent,
//! whatever its moment: the values sent, with their weights, have the
//! ramp's median. (Had the ring simply filled and skipped the rest, every
//! value sent would come from the first 8,192 pushes.)

use crate::reservoir::{Levels, Reservoirs};
use crate::ring::{Pushed, Ring, CAPACITY};

const PUSHES: u32 = 100_000;
const ROUNDS: usize = 60;

/// One interval: `PUSHES` values 0, 1, 2, ... into a fresh ring, then a
/// drain into the reservoir (the shard's highest offered level as the
/// interval's), then the weighted values sent. `skips` is the series'
/// running total of samples left out.
fn stalled_interval(r: &mut Reservoirs, skips: &mut u64) -> Vec<(f64, u64)> {
    let ring = Ring::new(CAPACITY);
    let mut highest = 0;
    for v in 0..PUSHES {
        match ring.push(0, f64::from(v).to_bits()) {
            Pushed::Ok { .. } => {}
            Pushed::Thinned { level, kept, .. } => {
                highest = highest.max(level);
                *skips += u64::from(!kept);
            }
            Pushed::Full { .. } => {
                highest = crate::ring::TOP_LEVEL;
                *skips += 1;
            }
        }
    }
    ring.drain(&mut |id, own, v| {
        let levels = Levels {
            own,
            interval: own.max(highest),
        };
        r.offer(id as usize, levels, v);
    });
    let mut sent = Vec::new();
    r.take(
        0,
        *skips,
        1.0,
        || None,
        |values, w| {
            sent.extend(values.iter().map(|&v| (v, w)));
        },
    );
    sent
}

/// Over `ROUNDS` stalled intervals, every interval counts all its pushes,
/// and the pooled weighted median is the ramp's (49,999.5). Bound: the
/// median of `m` values drawn uniformly from the ramp has a standard
/// deviation of 50,000/√m (in push units); the test requires `m` ≥ 1,000
/// values (deviation at most 1,581) and the median within 10,000 of the
/// truth (over 6 deviations: a false failure has probability below
/// 10^-9); values from the first 8,192 pushes only would be 45,000 off.
#[test]
fn a_stalled_flusher_sends_every_moment_with_the_same_chance() {
    let (mut r, mut skips) = (Reservoirs::new(), 0);
    let mut pooled = Vec::new();
    for _ in 0..ROUNDS {
        let sent = stalled_interval(&mut r, &mut skips);
        let counted: u64 = sent.iter().map(|s| s.1).sum();
        assert_eq!(counted, u64::from(PUSHES));
        pooled.extend(sent);
    }
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = pooled.iter().map(|s| s.1).sum();
    let mut acc = 0;
    let median = pooled
        .iter()
        .find(|s| {
            acc += s.1;
            acc * 2 >= total
        })
        .map_or(f64::NAN, |s| s.0);
    println!("median {median} of {} values sent", pooled.len());
    assert!(pooled.len() >= 1_000, "{} values sent", pooled.len());
    assert!(
        (median - 49_999.5).abs() <= 10_000.0,
        "median {median} of {} values sent",
        pooled.len()
    );
}
