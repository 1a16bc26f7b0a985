//! The queued writer against a writer the test holds shut: the logging side
//! never waits (lossy) or never drops (lossless), every line arrives whole,
//! and shutdown writes what was queued.

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::*;

/// Appends to shared memory; with a gate, every write first waits until
/// the gate's sender is dropped (or 60 s pass, so a broken test ends).
#[derive(Clone)]
struct Gated {
    out: Arc<Mutex<Vec<u8>>>,
    gate: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
}

impl io::Write for Gated {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(gate) = self.gate.lock().map_err(|_| io::ErrorKind::Other)?.as_ref() {
            let _ = gate.recv_timeout(Duration::from_secs(60));
        }
        self.out
            .lock()
            .map_err(|_| io::ErrorKind::Other)?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn gated() -> (Gated, mpsc::Sender<()>) {
    let (open, gate) = mpsc::channel();
    (
        Gated {
            out: Arc::new(Mutex::new(Vec::new())),
            gate: Arc::new(Mutex::new(Some(gate))),
        },
        open,
    )
}

fn line(i: usize) -> Vec<u8> {
    format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 300)).into_bytes()
}

fn lines_of(out: &[u8]) -> Vec<String> {
    let text = String::from_utf8(out.to_vec()).expect("utf-8");
    assert!(text.is_empty() || text.ends_with('\n'), "a torn last line");
    text.lines().map(str::to_owned).collect()
}

#[test]
fn a_stalled_writer_never_stops_the_logging_thread_and_drops_are_counted() {
    let (inner, open) = gated();
    let out = Arc::clone(&inner.out);
    let hooked = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&hooked);
    let (writer, handle) = spawn(
        BoxMakeWriter::new(move || inner.clone()),
        QueueConfig {
            lines: 16,
            bytes: QUEUE_BYTES,
            lossless: false,
            on_drop: Some(Arc::new(move |n| {
                seen.fetch_add(n, Ordering::Relaxed);
            })),
        },
    )
    .expect("spawn");
    // The writer is shut: a logging thread that waited for it would wait
    // the gate's 60 s; this one finishes 10,000 lines with the gate shut.
    let total = 10_000;
    for i in 0..total {
        writer.make_writer().write_all(&line(i)).expect("write");
    }
    // At most the queue's 16 lines and the batch the writer holds went in.
    let s = handle.stats();
    assert!(s.dropped > (total / 2) as u64, "{s:?}");
    assert_eq!(hooked.load(Ordering::Relaxed), s.dropped);
    drop(open);
    let ack = handle.begin_shutdown().expect("first shutdown");
    wait(&ack, None, Duration::MAX).expect("shutdown");
    let s = handle.stats();
    let lines = lines_of(&out.lock().expect("lock"));
    assert_eq!(lines.len() as u64, s.exported);
    assert_eq!(s.exported + s.dropped, total as u64, "{s:?}");
    for l in &lines {
        let n: usize = l
            .strip_prefix("{\"n\":")
            .and_then(|r| r.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not a whole line: {l}"));
        assert_eq!(format!("{l}\n").into_bytes(), line(n));
    }
    // After shutdown, lines are written on the caller's thread.
    writer.make_writer().write_all(b"after\n").expect("write");
    assert!(lines_of(&out.lock().expect("lock"))
        .last()
        .is_some_and(|l| l == "after"));
}

#[test]
fn lossless_mode_waits_and_drops_nothing() {
    let (inner, open) = gated();
    let out = Arc::clone(&inner.out);
    let (writer, handle) = spawn(
        BoxMakeWriter::new(move || inner.clone()),
        QueueConfig {
            lines: 4,
            bytes: QUEUE_BYTES,
            lossless: true,
            on_drop: None,
        },
    )
    .expect("spawn");
    let total = 500;
    let producer = thread::spawn(move || {
        for i in 0..total {
            writer.make_writer().write_all(&line(i)).expect("write");
        }
    });
    // The producer cannot finish while the writer is shut (the queue holds
    // 4 lines); opening the gate lets it.
    drop(open);
    producer.join().expect("producer");
    handle.flush(Duration::MAX).expect("flush");
    let s = handle.stats();
    assert_eq!((s.exported, s.dropped, s.failed), (total as u64, 0, 0));
    let lines = lines_of(&out.lock().expect("lock"));
    let expected: Vec<String> = (0..total)
        .map(|i| {
            String::from_utf8(line(i))
                .expect("utf-8")
                .trim_end()
                .to_owned()
        })
        .collect();
    assert_eq!(lines, expected);
}

#[test]
fn a_shutdown_that_cannot_finish_times_out_instead_of_hanging() {
    let (inner, open) = gated();
    let (writer, handle) = spawn(
        BoxMakeWriter::new(move || inner.clone()),
        QueueConfig {
            lines: 8,
            bytes: QUEUE_BYTES,
            lossless: false,
            on_drop: None,
        },
    )
    .expect("spawn");
    writer.make_writer().write_all(b"held\n").expect("write");
    let ack = handle.begin_shutdown().expect("shutdown");
    // The gate holds the write for 60 s; the wait ends after 50 ms.
    let r = wait(
        &ack,
        deadline_after(Duration::from_millis(50)),
        Duration::from_millis(50),
    );
    assert!(matches!(r, Err(ShutdownError::Timeout(_))), "{r:?}");
    assert!(handle.begin_shutdown().is_none());
    drop(open);
}

#[test]
fn the_queue_is_bounded_in_bytes_too() {
    let (inner, open) = gated();
    let out = Arc::clone(&inner.out);
    let (writer, handle) = spawn(
        BoxMakeWriter::new(move || inner.clone()),
        QueueConfig {
            lines: 1000,
            bytes: 1000,
            lossless: false,
            on_drop: None,
        },
    )
    .expect("spawn");
    // 50 lines of 100 bytes with the writer shut: the queue holds 1,000
    // bytes (10 lines), the writer thread at most one more line.
    let line = [b"x".repeat(99), b"\n".to_vec()].concat();
    for _ in 0..50 {
        writer.make_writer().write_all(&line).expect("write");
    }
    drop(open);
    let ack = handle.begin_shutdown().expect("first shutdown");
    wait(&ack, None, Duration::MAX).expect("shutdown");
    let s = handle.stats();
    assert_eq!(s.exported + s.dropped, 50, "{s:?}");
    assert!(s.exported <= 11, "{s:?}");
    assert_eq!(
        lines_of(&out.lock().expect("lock")).len() as u64,
        s.exported
    );
}

#[test]
fn no_line_queued_during_a_shutdown_is_lost_uncounted() {
    for round in 0..200 {
        let out = Arc::new(Mutex::new(Vec::new()));
        let inner = Gated {
            out: Arc::clone(&out),
            gate: Arc::new(Mutex::new(None)),
        };
        let (writer, handle) = spawn(
            BoxMakeWriter::new(move || inner.clone()),
            QueueConfig {
                lines: 64,
                bytes: QUEUE_BYTES,
                lossless: false,
                on_drop: None,
            },
        )
        .expect("spawn");
        let per_thread = 200;
        let producers: Vec<_> = (0..3)
            .map(|t| {
                let writer = writer.clone();
                thread::spawn(move || {
                    for i in 0..per_thread {
                        writer
                            .make_writer()
                            .write_all(&line(t * per_thread + i))
                            .expect("write");
                    }
                })
            })
            .collect();
        let ack = handle.begin_shutdown().expect("first shutdown");
        wait(&ack, None, Duration::MAX).expect("shutdown");
        for p in producers {
            p.join().expect("producer");
        }
        let s = handle.stats();
        let written = lines_of(&out.lock().expect("lock")).len() as u64;
        assert_eq!(written, s.exported, "round {round}: {s:?}");
        assert_eq!(
            s.exported + s.dropped + s.failed,
            3 * per_thread as u64,
            "round {round}: a line was lost uncounted: {s:?}"
        );
    }
}
