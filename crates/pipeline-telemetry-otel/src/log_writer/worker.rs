//! The writer thread: takes queued lines, writes them in batches, answers
//! flush and shutdown requests.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::thread;

use crossbeam_channel::{select, Receiver};
use tracing_subscriber::fmt::writer::MakeWriter;

use super::{Control, Shared, BATCH_BYTES};

pub(super) fn run(shared: &Shared, data: &Receiver<Vec<u8>>, control: &Receiver<Control>) {
    let mut batch = Vec::with_capacity(BATCH_BYTES);
    // Once every writer is gone, only the guard's requests are left.
    let mut queue = data.clone();
    loop {
        select! {
            recv(queue) -> line => match line {
                Ok(line) => {
                    take(shared, &mut batch, &line);
                    let mut lines = 1;
                    // What is queued now, up to a batch; never an endless loop
                    // behind a fast producer.
                    while batch.len() < BATCH_BYTES {
                        match data.try_recv() {
                            Ok(line) => {
                                take(shared, &mut batch, &line);
                                lines += 1;
                            }
                            Err(_) => break,
                        }
                    }
                    write_batch(shared, &mut batch, lines);
                }
                Err(_) => queue = crossbeam_channel::never(),
            },
            recv(control) -> msg => match msg {
                Ok(Control::Flush(ack)) => {
                    drain(shared, data, &mut batch);
                    let _ = ack.send(());
                }
                Ok(Control::Shutdown(ack)) => {
                    finish(shared, data, &mut batch);
                    let _ = ack.send(());
                    return;
                }
                // The guard is gone without a shutdown: lines go directly
                // from now on; write what is queued.
                Err(_) => return finish(shared, data, &mut batch),
            },
        }
    }
}

/// Moves one line into `batch`, out of the queue's byte count.
fn take(shared: &Shared, batch: &mut Vec<u8>, line: &[u8]) {
    shared.queued_bytes.fetch_sub(line.len(), Ordering::Relaxed);
    batch.extend_from_slice(line);
}

/// Stops queuing (lines go directly from now on) and writes every line
/// queued, those of enqueues in progress included: a line queued after
/// the last drain would be lost uncounted.
fn finish(shared: &Shared, data: &Receiver<Vec<u8>>, batch: &mut Vec<u8>) {
    shared.stopped.store(true, Ordering::SeqCst);
    // An enqueue in progress either saw `stopped` (and writes directly) or
    // is counted here; a lossless one may wait for room, which the drain
    // makes.
    while shared.enqueuing.load(Ordering::SeqCst) > 0 {
        drain(shared, data, batch);
        thread::yield_now();
    }
    drain(shared, data, batch);
}

/// Writes the lines queued when called (not those queued meanwhile: a busy
/// producer cannot keep a flush going forever).
fn drain(shared: &Shared, data: &Receiver<Vec<u8>>, batch: &mut Vec<u8>) {
    let mut left = data.len();
    while left > 0 {
        let mut lines = 0;
        while left > 0 && batch.len() < BATCH_BYTES {
            match data.try_recv() {
                Ok(line) => {
                    take(shared, batch, &line);
                    lines += 1;
                    left -= 1;
                }
                Err(_) => left = 0,
            }
        }
        write_batch(shared, batch, lines);
    }
}

fn write_batch(shared: &Shared, batch: &mut Vec<u8>, lines: u64) {
    if lines == 0 {
        return;
    }
    let mut w = shared.inner.make_writer();
    let result = w.write_all(batch).and_then(|()| w.flush());
    batch.clear();
    if batch.capacity() > 4 * BATCH_BYTES {
        // One huge line must not keep its memory for good.
        batch.shrink_to(BATCH_BYTES);
    }
    let c = &shared.counters;
    match result {
        Ok(()) => {
            c.written.fetch_add(lines, Ordering::Relaxed);
            if c.dropped.load(Ordering::Relaxed) > 0
                && !c.warned_dropped.swap(true, Ordering::Relaxed)
            {
                eprintln!(
                    "pipeline-telemetry: log lines were dropped because the log output did not keep up \
                     (the queue was full); they are counted in the client telemetry. Set {}=true to \
                     wait instead of dropping.",
                    pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_LOG_LOSSLESS
                );
            }
        }
        Err(e) => {
            c.failed.fetch_add(lines, Ordering::Relaxed);
            if !c.warned_failed.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "pipeline-telemetry: writing log lines failed: {e} (further failures are only counted)"
                );
            }
        }
    }
}
