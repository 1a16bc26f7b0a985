//! Tests of the per-thread shards.

use super::*;

/// Serialises the tests that drain every shard: a drain takes every
/// series' samples, not only its own test's.
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
    let _draining = DRAINING.lock().unwrap_or_else(|p| p.into_inner());
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
    std::thread::spawn(|| {
        push(7, 1.5);
        push(7, 2.5);
    })
    .join()
    .expect("thread");
    let _draining = DRAINING.lock().unwrap_or_else(|p| p.into_inner());
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
