//! The ring's own tests: levels, filling and thinning, a concurrent
//! producer and consumer, and the chance of a thinned offer.

use super::*;

#[test]
fn levels_rise_by_band_in_the_last_eighth() {
    assert_eq!(level(0, 8192), 0);
    assert_eq!(level(7167, 8192), 0);
    assert_eq!(level(7168, 8192), 1);
    assert_eq!(level(7168 + 31, 8192), 1);
    assert_eq!(level(7168 + 32, 8192), 2);
    assert_eq!(level(8191, 8192), 32);
    assert_eq!(level(895, 1024), 0);
    assert_eq!(level(896 + 4, 1024), 2);
    assert_eq!(level(1023, 1024), 32);
}

#[test]
fn fills_thins_and_reports_full() {
    for capacity in [CAPACITY, SMALL_CAPACITY] {
        fills_thins_and_reports_full_at(capacity);
    }
}

fn fills_thins_and_reports_full_at(capacity: usize) {
    let r = Ring::new(capacity);
    let thin_from = capacity - capacity / 8;
    for round in 0..3u32 {
        for i in 0..thin_from as u32 {
            let pushed = r.push(i, u64::from(round));
            assert_eq!(
                pushed,
                Pushed::Ok {
                    wake: i as usize + 1 == capacity / 4
                }
            );
        }
        // Past 7/8 a push is kept with probability 2^-level: fill the
        // rest by offering until stored (levels reach 32, so the last
        // slots are forced in with stores below the producer's API).
        let mut offered_at_1 = 0u32;
        while r.len() < thin_from + capacity / 256 {
            match r.push(7, u64::from(round)) {
                Pushed::Thinned { level: 1, .. } => offered_at_1 += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(offered_at_1 >= (capacity / 256) as u32);
        let head = r.producer.head.load(Ordering::Relaxed);
        for k in 0..capacity - r.len() {
            r.store(head + k, 9, u64::from(round));
        }
        // Full: the flusher is woken once per full spell.
        assert_eq!(r.push(0, 0), Pushed::Full { wake: true });
        assert_eq!(r.push(0, 0), Pushed::Full { wake: false });
        assert_eq!(r.len(), capacity);
        let mut n = 0usize;
        r.drain(&mut |id, level, v| {
            assert_eq!(v, f64::from_bits(u64::from(round)));
            if n < thin_from {
                assert_eq!((id, level), (n as u32, 0));
            } else if n < thin_from + capacity / 256 {
                assert_eq!((id, level), (7, 1));
            } else {
                assert_eq!(id, 9);
            }
            n += 1;
        });
        assert_eq!(n, capacity);
    }
}

#[test]
fn concurrent_producer_and_consumer_lose_nothing() {
    let r = std::sync::Arc::new(Ring::new(SMALL_CAPACITY));
    let p = r.clone();
    let producer = std::thread::spawn(move || {
        let mut sent = 0u64;
        let mut i = 0u32;
        while i < 200_000 {
            let id = i & 0xFFFF;
            match p.push(id, u64::from(i)) {
                Pushed::Ok { .. } | Pushed::Thinned { kept: true, .. } => {
                    sent += u64::from(i);
                    i += 1;
                }
                _ => {}
            }
        }
        sent
    });
    let mut got = 0u64;
    let mut n = 0;
    while n < 200_000 {
        r.drain(&mut |id, _, v| {
            assert_eq!(v.to_bits() & 0xFFFF, u64::from(id));
            got += v.to_bits();
            n += 1;
        });
    }
    assert_eq!(producer.join().expect("producer"), got);
}

/// Puts `r` (empty, or at any position) at `used` samples without a push.
fn hold_at(r: &Ring, used: usize) {
    let head = r.producer.head.load(Ordering::Relaxed);
    r.consumer.tail.store(head - used, Ordering::Relaxed);
}

/// Offers at levels that change every `spell` offers, cycling through
/// `levels` (as drains move a ring between bands); a kept sample is taken
/// back out (the tail moves with it), so the level only changes between
/// spells. Returns the offers and keeps at each level.
fn offer_in_spells(levels: &[u32], spell: u32, spells: u32) -> Vec<(u32, u64, u64)> {
    let r = Ring::new(CAPACITY);
    let band = CAPACITY / 256;
    // Start far enough into the counters that `hold_at` never underflows.
    r.producer.head.store(1 << 40, Ordering::Relaxed);
    let mut tally: Vec<(u32, u64, u64)> = levels.iter().map(|&l| (l, 0, 0)).collect();
    for s in 0..spells {
        let i = s as usize % levels.len();
        let level = levels[i];
        let used = CAPACITY - CAPACITY / 8 + (level as usize - 1) * band;
        hold_at(&r, used);
        for _ in 0..spell {
            match r.push(1, 0) {
                Pushed::Thinned { level: l, kept, .. } => {
                    assert_eq!(l, level);
                    tally[i].1 += 1;
                    if kept {
                        tally[i].2 += 1;
                        hold_at(&r, used);
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
    tally
}

/// Each thinned offer is kept with probability 2^-level, at the levels a
/// draw per offer serves and at those a drawn skip does, when the level
/// changes in the middle of a skip (a drain), and when it comes back to a
/// level whose skip was left unfinished. A skip carried over to a new
/// level would keep far too few at the lower one (and too many at the
/// higher), by dozens of deviations.
#[test]
fn a_thinned_offer_is_kept_with_its_levels_chance() {
    let cases: [(&[u32], u32, u32); 4] = [
        (&[2, 4], 1_000, 400),
        (&[SKIP_FROM, 9], 300, 2_000),
        (&[12, SKIP_FROM + 1], 50, 20_000),
        (&[7, 3, 10], 100, 9_000),
    ];
    for (levels, spell, spells) in cases {
        for (level, offered, kept) in offer_in_spells(levels, spell, spells) {
            let p = (-f64::from(level)).exp2();
            let expected = offered as f64 * p;
            let sd = (offered as f64 * p * (1.0 - p)).sqrt();
            println!("level {level}: {kept} of {offered} kept, {expected:.0} expected");
            assert!(
                (kept as f64 - expected).abs() < 6.0 * sd,
                "{levels:?} level {level}: {kept} of {offered}, expected {expected:.0} ± {sd:.0}"
            );
        }
    }
}
