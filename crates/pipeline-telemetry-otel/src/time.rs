//! Deadlines from any `Duration` a user can pass, `Duration::MAX` included:
//! a wait too long to be an `Instant` is a wait without limit, never a panic
//! (`Instant + Duration` panics on overflow).

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// `now + timeout`, or `None` when that is past what an `Instant` holds.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Receives until `deadline` (`None`: waits as long as it takes).
///
/// # Errors
/// [`RecvTimeoutError::Timeout`] when the deadline passed first,
/// [`RecvTimeoutError::Disconnected`] when the sender is gone.
pub(crate) fn recv_until<T>(
    rx: &Receiver<T>,
    deadline: Option<Instant>,
) -> Result<T, RecvTimeoutError> {
    match deadline {
        Some(d) => rx.recv_deadline(d),
        None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_duration_gives_a_deadline_or_none() {
        assert!(deadline_after(Duration::ZERO).is_some());
        assert!(deadline_after(Duration::from_secs(5)).is_some());
        assert_eq!(deadline_after(Duration::MAX), None);
    }

    #[test]
    fn no_deadline_waits_for_the_answer() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let t = std::thread::spawn(move || tx.send(7));
        assert_eq!(recv_until(&rx, None), Ok(7));
        let _ = t.join();
        let (tx, rx) = crossbeam_channel::bounded::<u8>(1);
        drop(tx);
        assert_eq!(recv_until(&rx, None), Err(RecvTimeoutError::Disconnected));
        let (_tx, rx) = crossbeam_channel::bounded::<u8>(1);
        assert_eq!(
            recv_until(&rx, deadline_after(Duration::ZERO)),
            Err(RecvTimeoutError::Timeout)
        );
    }
}
