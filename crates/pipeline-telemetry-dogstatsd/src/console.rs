//! The console fallback: DogStatsD lines on standard error (standard
//! output is left to the JSON logs). The flusher never writes to the
//! terminal itself: it hands datagrams to a bounded queue that a writer
//! thread drains, so a slow or blocked stderr never holds the exporter's
//! lock nor blocks a caller; when the queue is full, datagrams are dropped
//! and counted.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use crate::transport::Transport;

/// Datagrams waiting for the console writer at most.
const QUEUE: usize = 1024;
/// How long dropping the console transport waits for the writer to print
/// what is queued.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct Console {
    tx: Option<SyncSender<Vec<u8>>>,
    done: Receiver<()>,
}

impl Console {
    pub(crate) fn new() -> io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(QUEUE);
        let (done_tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("dogstatsd-console".into())
            .spawn(move || {
                for datagram in rx {
                    // Every line already ends with `\n`.
                    let _ = io::stderr().lock().write_all(&datagram);
                }
                let _ = done_tx.send(());
            })?;
        Ok(Console { tx: Some(tx), done })
    }
}

impl Transport for Console {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let Some(tx) = &self.tx else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        match tx.try_send(datagram.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "standard error is not keeping up",
            )),
            Err(TrySendError::Disconnected(_)) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn name(&self) -> &'static str {
        "console"
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has printed the rest.
        drop(self.tx.take());
        let _ = self.done.recv_timeout(DRAIN_TIMEOUT);
    }
}
