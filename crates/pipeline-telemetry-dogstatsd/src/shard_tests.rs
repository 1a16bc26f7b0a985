//! Tests of the per-thread shards.

use super::*;

/// Serialises the tests that record samples and drain every shard: a
/// drain takes every series' samples, not only its own test's, so each
/// holds it from its first sample to its last drain.
static DRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn threads_get_their_own_shards_and_totals_add_up() {
    let id = 4242;
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || (0..1000).for_each(|_| add(id, 2))))
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(total(id), 8000);
}

/// The increment's fast path (the thread's own segments, cached in a
/// thread-local) writes the cells the flusher reads, in every segment (and
/// a record's, the thread's own ring), and
/// a thread that gives its shard back stops using it: what it records from
/// its last destructors goes to the shared shard, and still counts.
#[test]
fn the_fast_path_writes_the_owned_shards_cells_until_the_shard_is_given_back() {
    struct AtExit;
    impl Drop for AtExit {
        fn drop(&mut self) {
            // Runs after or before the shard is released, in either order.
            add(SEGMENT as u32 * 200 + 7, 1);
        }
    }
    thread_local!(static AT_EXIT: AtExit = const { AtExit });
    let ids = [11, SEGMENT as u32 + 11, SEGMENT as u32 * 200 + 7];
    let handles: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                AT_EXIT.with(|_| {});
                for _ in 0..500 {
                    ids.iter().for_each(|&id| add(id, 3));
                }
                let [off, seg, ..] = ids[1].to_le_bytes();
                let cached = OWN_SEGMENTS.with(|s| s[usize::from(seg)].get());
                let own = CURRENT.with(Cell::get).expect("claimed").shard;
                let cells = cached.expect("the segment is cached after its first use");
                push(ids[0], 1.0);
                let (shard, ring) = OWN_RING.with(Cell::get).expect("the ring is cached");
                assert!(std::ptr::eq(shard, own));
                assert!(std::ptr::eq(ring, own.ring.get().expect("ring")));
                assert!(std::ptr::eq(
                    &cells[usize::from(off)],
                    own.cell(ids[1]).expect("cell")
                ));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(total(ids[0]), 3 * 500 * 3);
    assert_eq!(total(ids[1]), 3 * 500 * 3);
    assert_eq!(total(ids[2]), 3 * 500 * 3 + 3);
}

/// More live threads than built-in shards: every one still owns a
/// shard of its own, and what they record comes back from the
/// flusher's view of all shards.
#[test]
fn threads_past_the_built_in_shards_own_extra_ones() {
    use std::sync::{Arc, Barrier};
    const THREADS: usize = STATIC_SHARDS + 16;
    const ID: u32 = 4343;
    let _draining = DRAINING.lock().unwrap_or_else(|p| p.into_inner());
    let all_alive = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let all_alive = all_alive.clone();
            std::thread::spawn(move || {
                add(ID, 1);
                push(ID, i as f64);
                let current = CURRENT.with(Cell::get).expect("claimed");
                // Hold the shard until every thread has one.
                all_alive.wait();
                (current.exclusive, current.shard as *const Shard as usize)
            })
        })
        .collect();
    let mut shards: Vec<usize> = handles
        .into_iter()
        .map(|h| {
            let (exclusive, shard) = h.join().expect("thread");
            assert!(exclusive, "a thread past the built-in shards shared one");
            shard
        })
        .collect();
    shards.sort_unstable();
    shards.dedup();
    assert_eq!(shards.len(), THREADS, "two live threads held one shard");
    assert!(EXTRA_LEN.load(Ordering::Acquire) >= THREADS - STATIC_SHARDS);
    assert_eq!(total(ID), THREADS as u64);
    let mut got = Vec::new();
    for s in all() {
        s.drain(&mut |id, _, v| {
            if id == ID {
                got.push(v as usize)
            }
        });
    }
    got.sort_unstable();
    assert_eq!(got, (0..THREADS).collect::<Vec<_>>());
}

#[test]
fn samples_come_back_from_drain() {
    let _draining = DRAINING.lock().unwrap_or_else(|p| p.into_inner());
    std::thread::spawn(|| {
        push(7, 1.5);
        push(7, 2.5);
    })
    .join()
    .expect("thread");
    let mut got = Vec::new();
    for s in all() {
        s.drain(&mut |id, _, v| {
            if id == 7 {
                got.push(v)
            }
        });
    }
    got.sort_by(f64::total_cmp);
    assert_eq!(got, vec![1.5, 2.5]);
}

/// A series thinned at the source: about 2^-level of its offers reach the
/// ring, tagged with the level, and every other one is counted for it; a
/// series of the same thread recorded at level 0 is whole and untagged,
/// and the shard's interval level is untouched (the level is the
/// series', not the thread's). At levels below and past the skip's start.
#[test]
fn a_series_thinned_at_the_source_is_counted_and_leaves_the_others_whole() {
    for (level, heavy, light) in [(2u32, 4_711u32, 4_712u32), (9, 4_713, 4_714)] {
        const OFFERS: u64 = 400_000;
        let _draining = DRAINING.lock().unwrap_or_else(|p| p.into_inner());
        let (mut kept, mut lights, mut others_level) = (0u64, 0u64, 0u32);
        let mut drain = |kept: &mut u64, lights: &mut u64| {
            for s in all() {
                others_level = others_level.max(s.level_hi.load(Ordering::Relaxed));
                s.drain(&mut |id, levels, _| {
                    if id == heavy {
                        assert_eq!(levels.own, level, "a kept sample is tagged");
                        *kept += 1;
                    } else if id == light {
                        assert_eq!(levels.own, 0, "the light series is not thinned");
                        *lights += 1;
                    }
                });
            }
        };
        let thread = std::thread::spawn(move || {
            for i in 0..OFFERS {
                push_at(heavy, 1.0, level);
                if i % 100 == 0 {
                    push_at(light, 2.0, 0);
                }
                if i % 1_000 == 999 {
                    // Never near 7/8, where the ring itself would thin:
                    // wait for the drain.
                    let (_, ring) = OWN_RING.with(Cell::get).expect("the ring");
                    while ring.len() > 1_024 {
                        std::thread::yield_now();
                    }
                }
            }
        });
        while !thread.is_finished() {
            drain(&mut kept, &mut lights);
        }
        thread.join().expect("thread");
        drain(&mut kept, &mut lights);
        assert_eq!(lights, OFFERS / 100, "level {level}: light samples");
        assert_eq!(kept + total(heavy), OFFERS, "level {level}: kept + counted");
        // Binomial(OFFERS, 2^-level): within 6 standard deviations.
        let p = 0.5f64.powi(level as i32);
        let (mean, sd) = (OFFERS as f64 * p, (OFFERS as f64 * p * (1.0 - p)).sqrt());
        assert!(
            (kept as f64 - mean).abs() <= 6.0 * sd,
            "level {level}: {kept} kept, {mean} expected"
        );
        assert_eq!(others_level, 0, "level {level}: the shard was thinned");
    }
}
