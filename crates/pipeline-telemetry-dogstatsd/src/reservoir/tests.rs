//! The reservoirs' unit tests.

use super::*;

fn at(own: u32) -> Levels {
    Levels { own, interval: own }
}

/// (values, weight) groups of series `id`.
fn groups(r: &mut Reservoirs, id: usize, skipped: u64, rate: f64) -> Vec<(Vec<f64>, u64)> {
    let mut got = Vec::new();
    r.take(
        id,
        skipped,
        rate,
        || None,
        |v, w| {
            if !v.is_empty() {
                got.push((v.to_vec(), w))
            }
        },
    );
    got
}

#[test]
fn keeps_all_below_the_bound_and_weighted_subsets_above() {
    let mut r = Reservoirs::new();
    r.set_max(100);
    (0..50).for_each(|i| r.offer(3, at(0), f64::from(i)));
    let got = groups(&mut r, 3, 0, 1.0);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0.len(), got[0].1), (50, 1));

    (0..10_000).for_each(|i| r.offer(3, at(0), f64::from(i)));
    // 5_050 more were counted by the producers' buffers: 15_050 in
    // all, over 100 values: 50 of weight 151, 50 of weight 150.
    let got = groups(&mut r, 3, 5_050, 1.0);
    let mut sizes: Vec<(usize, u64)> = got.iter().map(|(v, w)| (v.len(), *w)).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![(50, 150), (50, 151)]);
    // Uniform over what was drained: not just the first 100.
    assert!(got.iter().flat_map(|g| &g.0).any(|v| *v >= 100.0));
    assert_eq!(r.take_sampled_out(), 14_950);
}

#[test]
fn skips_without_drained_samples_send_a_left_out_value() {
    let mut r = Reservoirs::new();
    r.set_max(10);
    // No value kept by a producer yet: the count waits.
    let mut called = false;
    r.take(1, 7, 1.0, || None, |_, _| called = true);
    assert!(!called);
    let mut got = Vec::new();
    r.take(
        1,
        7,
        1.0,
        || Some(2.5),
        |v, w| got.extend(v.iter().map(|&v| (v, w))),
    );
    assert_eq!(got, vec![(2.5, 7)]);
    assert_eq!(r.take_sampled_out(), 6);
    // Accounted for: the next drained sample carries only itself.
    r.offer(1, at(0), 1.0);
    assert_eq!(groups(&mut r, 1, 7, 1.0), vec![(vec![1.0], 1)]);
    // A drained sample is preferred to the left-out value.
    r.offer(1, at(0), 3.0);
    let mut asked = false;
    let mut got = Vec::new();
    r.take(
        1,
        9,
        1.0,
        || {
            asked = true;
            Some(9.0)
        },
        |v, w| got.extend(v.iter().map(|&v| (v, w))),
    );
    assert!(!asked);
    assert_eq!(got, vec![(3.0, 3)]);
}

#[test]
fn a_higher_level_thins_what_was_kept() {
    let mut r = Reservoirs::new();
    r.set_max(1_000_000);
    (0..100_000).for_each(|i| r.offer(2, at(0), f64::from(i)));
    r.offer(2, at(4), -1.0);
    // The level-4 sample stays; the others survive with 1/16 each:
    // 6250 expected, sd 77.
    let got = groups(&mut r, 2, 0, 1.0);
    let sent: usize = got.iter().map(|g| g.0.len()).sum();
    assert!((5_850..6_650).contains(&sent), "{sent}");
    assert!(got.iter().any(|g| g.0.contains(&-1.0)));
    let count: u64 = got.iter().map(|(v, w)| v.len() as u64 * w).sum();
    assert_eq!(count, 100_001);
}

#[test]
fn samples_drained_after_a_lagging_push_are_thinned_to_its_level() {
    let mut r = Reservoirs::new();
    r.set_max(1_000_000);
    // Own level 0, but the shard offered at level 3 this interval:
    // each survives with 1/8: 12_500 expected, sd 105.
    let lagging = Levels {
        own: 0,
        interval: 3,
    };
    (0..100_000).for_each(|i| r.offer(4, lagging, f64::from(i)));
    let got = groups(&mut r, 4, 0, 1.0);
    let sent: usize = got.iter().map(|g| g.0.len()).sum();
    assert!((11_900..13_100).contains(&sent), "{sent}");
}

#[test]
fn a_series_thinned_to_nothing_still_sends_its_count() {
    let mut r = Reservoirs::new();
    let deep = Levels {
        own: 0,
        interval: 60,
    };
    (0..3).for_each(|i| r.offer(6, deep, f64::from(i)));
    let got = groups(&mut r, 6, 2, 1.0);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0.len(), got[0].1), (1, 5));
}

#[test]
fn client_side_rates_round_to_integers_without_bias() {
    let mut r = Reservoirs::new();
    let mut total = 0u64;
    for _ in 0..10_000 {
        (0..3).for_each(|_| r.offer(5, at(0), 1.0));
        total += groups(&mut r, 5, 0, 0.4)
            .iter()
            .map(|(v, w)| v.len() as u64 * w)
            .sum::<u64>();
    }
    // 7.5 per interval: 75_000 expected, rounding sd about 50.
    assert!((74_700..75_300).contains(&total), "{total}");
}

#[test]
fn a_series_is_thinned_at_the_source_past_sixteen_times_its_cap() {
    assert_eq!(source_level(0, 4096), 0);
    assert_eq!(source_level(16 * 4096 - 1, 4096), 0);
    assert_eq!(source_level(16 * 4096, 4096), 1);
    assert_eq!(source_level(32 * 4096 - 1, 4096), 1);
    assert_eq!(source_level(32 * 4096, 4096), 2);
    // What is kept stays at 8 × the cap or more, in expectation.
    for recorded in [16 * 64, 1_000_000, 123_456_789] {
        let level = source_level(recorded, 64);
        assert!(recorded >> level >= 8 * 64, "{recorded} at {level}");
        assert!(recorded >> (level + 1) < 8 * 64, "{recorded} at {level}");
    }
    assert_eq!(source_level(u64::MAX, 1), SOURCE_TOP);
    // No cap, no thinning at the source (and no overflow).
    assert_eq!(source_level(u64::MAX, usize::MAX), 0);
    assert_eq!(source_level(u64::MAX, usize::MAX / 4), 0);
}

#[test]
fn take_reports_the_intervals_samples() {
    let mut r = Reservoirs::new();
    (0..10).for_each(|i| r.offer(8, at(3), f64::from(i)));
    assert_eq!(r.take(8, 90, 1.0, || None, |_, _| {}), 100);
    assert_eq!(r.take(8, 90, 1.0, || None, |_, _| {}), 0);
}
