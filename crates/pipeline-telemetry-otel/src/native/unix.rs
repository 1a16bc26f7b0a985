//! Connecting to the Agent's Unix socket within a time limit: std's
//! `UnixStream::connect` has none, and on Linux it waits for as long as the
//! Agent's backlog stays full. A non-blocking `connect(2)` and `poll(2)`
//! bound it.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Not inherited by child processes (where the flag exists at creation).
#[cfg(any(target_os = "linux", target_os = "android"))]
const CLOEXEC: libc::c_int = libc::SOCK_CLOEXEC;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const CLOEXEC: libc::c_int = 0;

/// Connects to the stream socket at `path` within `timeout`, and returns it
/// blocking, its reads bounded by `timeout`.
///
/// # Errors
/// The system's error, `TimedOut` when `timeout` passed, `WouldBlock` when
/// the Agent takes no more connections now (its backlog is full), and
/// `InvalidInput` for a path too long for a socket address.
pub(crate) fn connect(path: &Path, timeout: Duration) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket path does not fit a socket address",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    // SAFETY: plain system call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new socket that nothing else owns; the stream
    // closes it on every path from here.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    stream.set_nonblocking(true)?;
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINPROGRESS) => wait_connected(&stream, timeout)?,
            Some(libc::EAGAIN) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the Agent's socket takes no more connections now (backlog full)",
                ))
            }
            _ => return Err(err),
        }
    }
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(timeout))?;
    Ok(stream)
}

fn wait_connected(stream: &UnixStream, timeout: Duration) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    match n {
        0 => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "connecting timed out",
        )),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => match stream.take_error()? {
            Some(e) => Err(e),
            None => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connects_or_says_why() {
        let dir = std::env::temp_dir().join(format!("pt-unix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("s.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let mut s = connect(&path, Duration::from_secs(1)).expect("connects");
        let (mut peer, _) = listener.accept().expect("accept");
        std::io::Write::write_all(&mut peer, b"x").expect("write");
        let mut b = [0u8; 1];
        std::io::Read::read_exact(&mut s, &mut b).expect("read");
        assert_eq!(&b, b"x");
        let missing = connect(&dir.join("none.sock"), Duration::from_secs(1));
        assert_eq!(
            missing.expect_err("no socket").kind(),
            io::ErrorKind::NotFound
        );
        let long = dir.join("x".repeat(200));
        assert_eq!(
            connect(&long, Duration::from_secs(1))
                .expect_err("too long")
                .kind(),
            io::ErrorKind::InvalidInput
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
