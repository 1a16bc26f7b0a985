//! The export thread against a sink the test holds: batches, drops,
//! flush and shutdown, any `Duration`.

use super::*;
use std::sync::mpsc;
use std::sync::Mutex;

/// Collects the batches; with a gate, each export first blocks until the
/// gate's sender is dropped (or 30 s pass), so a test decides when the
/// export thread may go on instead of guessing with a sleep.
struct Collect(Arc<Mutex<Vec<Vec<u32>>>>, Option<mpsc::Receiver<()>>);

impl ExportSink for Collect {
    type Item = u32;
    fn export(&mut self, batch: Vec<u32>) -> Result<(), String> {
        if let Some(gate) = &self.1 {
            let _ = gate.recv_timeout(Duration::from_secs(30));
        }
        self.0.lock().map_err(|e| e.to_string())?.push(batch);
        Ok(())
    }
}

fn config(queue_size: usize) -> BatchConfig {
    BatchConfig {
        queue_size,
        max_batch_size: 3,
        delay: Duration::from_secs(60),
    }
}

#[test]
fn flush_exports_in_batches_and_shutdown_stops() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink_got = Arc::clone(&got);
    let b =
        Batcher::spawn("test", config(100), move || Ok(Collect(sink_got, None))).expect("spawn");
    for i in 0..7 {
        b.push(i);
    }
    b.flush(Duration::from_secs(5)).expect("flush");
    let batches = got.lock().expect("lock").clone();
    assert_eq!(batches.concat(), (0..7).collect::<Vec<_>>());
    assert!(batches.iter().all(|b| b.len() <= 3));
    assert_eq!(b.stats().exported, 7);
    b.shutdown(Duration::from_secs(5)).expect("shutdown");
    b.push(8);
    assert_eq!(b.stats().dropped, 1);
    assert!(b.flush(Duration::from_secs(1)).is_err());
}

#[test]
fn duration_max_as_delay_flush_and_shutdown_timeout_never_panics() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink_got = Arc::clone(&got);
    let config = BatchConfig {
        delay: Duration::MAX,
        ..config(100)
    };
    let b = Batcher::spawn("test", config, move || Ok(Collect(sink_got, None))).expect("spawn");
    b.push(1);
    b.flush(Duration::MAX).expect("flush");
    assert_eq!(got.lock().expect("lock").concat(), [1]);
    b.push(2);
    b.shutdown(Duration::MAX).expect("shutdown");
    assert_eq!(got.lock().expect("lock").concat(), [1, 2]);
}

#[test]
fn full_queue_drops_and_counts_without_blocking() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink_got = Arc::clone(&got);
    let (release, gate) = mpsc::channel();
    let b = Batcher::spawn("test", config(2), move || Ok(Collect(sink_got, Some(gate))))
        .expect("spawn");
    // The export is held until `release` is dropped: a blocking push
    // would wait the gate's 30 s, far past this bound.
    let start = Instant::now();
    for i in 0..1000 {
        b.push(i);
    }
    assert!(start.elapsed() < Duration::from_secs(10), "push blocked");
    assert!(b.stats().dropped > 900);
    drop(release);
    let _ = b.shutdown(Duration::from_secs(30));
    let s = b.stats();
    assert_eq!(s.exported + s.dropped, 1000);
}

#[test]
fn slow_export_makes_shutdown_time_out() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let (release, gate) = mpsc::channel();
    let b =
        Batcher::spawn("test", config(10), move || Ok(Collect(got, Some(gate)))).expect("spawn");
    b.push(1);
    // The export is held until `release` is dropped, so shutdown's 50 ms
    // pass first however slow the machine; the wait must not outlast
    // them by much (a generous bound: the export would hold 30 s).
    let start = Instant::now();
    let r = b.shutdown(Duration::from_millis(50));
    assert!(matches!(r, Err(ShutdownError::Timeout(_))), "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(10));
    drop(release);
}

#[test]
fn a_whole_batch_goes_out_before_the_delay_without_a_flush() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink_got = Arc::clone(&got);
    // A 60 s delay: only the wake-up of a whole batch can export it.
    let b =
        Batcher::spawn("test", config(100), move || Ok(Collect(sink_got, None))).expect("spawn");
    for round in 0..3u32 {
        for i in 0..3 {
            b.push(round * 3 + i);
        }
        let until = Instant::now() + Duration::from_secs(20);
        while got.lock().expect("lock").len() <= round as usize && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
    }
    let batches = got.lock().expect("lock").clone();
    assert_eq!(batches, [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8]]);
    // Less than a batch waits for the delay (or a flush).
    b.push(9);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(got.lock().expect("lock").len(), 3);
    b.flush(Duration::from_secs(5)).expect("flush");
    assert_eq!(
        got.lock().expect("lock").concat(),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn a_full_queue_is_said_full_and_counts_the_drop() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let (release, gate) = mpsc::channel();
    let b = Batcher::spawn("test", config(2), move || Ok(Collect(got, Some(gate)))).expect("spawn");
    assert!(!b.dropped_if_full());
    b.push(1);
    b.push(2);
    // The export of a whole batch may have taken items out: fill again.
    while !b.dropped_if_full() {
        b.push(3);
    }
    assert!(b.stats().dropped >= 1);
    drop(release);
    let _ = b.shutdown(Duration::from_secs(30));
}
