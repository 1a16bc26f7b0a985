//! Reading the child's stdout and stderr while it runs: a thread per pipe
//! on the blocking path, tokio's pipes on the async path.

use std::io::Read;
use std::sync::mpsc;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::output::OutputCollector;
use crate::prepare::drain_limit;

const READ_BUF: usize = 16 * 1024;

/// Reads `pipe` into `collector` on a thread of its own; the collector comes back
/// through the channel at end of file.
pub(crate) fn pump_thread<R: Read + Send + 'static>(
    pipe: Option<R>,
    mut collector: OutputCollector,
) -> mpsc::Receiver<OutputCollector> {
    let (tx, rx) = mpsc::channel();
    let Some(mut pipe) = pipe else {
        let _ = tx.send(collector);
        return rx;
    };
    let spawned = std::thread::Builder::new()
        .name("pt-process-output".into())
        .spawn(move || {
            let mut buf = vec![0u8; READ_BUF];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => collector.feed(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(collector);
        });
    if spawned.is_err() {
        // No thread: the pipe is dropped and the child gets EPIPE.
        let (tx, rx2) = mpsc::channel();
        let _ = tx.send(OutputCollector::none());
        return rx2;
    }
    rx
}

/// The tail and captured bytes of a pumped stream, waiting at most the
/// drain limit after the process ended.
pub(crate) fn collect(rx: mpsc::Receiver<OutputCollector>) -> (Option<String>, Vec<u8>) {
    match rx.recv_timeout(drain_limit()) {
        Ok(collector) => collector.finish(),
        Err(_) => (None, Vec::new()),
    }
}

pub(crate) async fn pump_async<R: AsyncRead + Unpin>(
    pipe: Option<R>,
    collector: &mut OutputCollector,
) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = vec![0u8; READ_BUF];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => collector.feed(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}
