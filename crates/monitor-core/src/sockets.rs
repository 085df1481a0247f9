//! Aborting a connection from native code by shutting down its socket. The JS driver's pending read then ends
//! (EOF) as soon as its event loop runs again, even if the loop was blocked when the host was found dead.
//!
//! The fd belongs to someone else (libuv): it is only shut down, never closed, and the caller must unregister
//! it when the socket closes (an fd number is reused by the next open).

use std::io;

/// Shuts down both directions of the socket `fd`. Refuses an fd that is not a socket.
#[cfg(unix)]
pub fn shutdown_socket(fd: i64) -> io::Result<()> {
    use std::os::fd::BorrowedFd;
    let raw = i32::try_from(fd).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("fd {fd} out of range")))?;
    if raw < 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("fd {fd} out of range")));
    }
    // SAFETY: the fd is only borrowed for these two calls; it is neither closed nor kept.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    let sock = socket2::SockRef::from(&fd);
    // Fails with ENOTSOCK (or EBADF) for anything but an open socket.
    sock.r#type()?;
    match sock.shutdown(std::net::Shutdown::Both) {
        // Already disconnected: nothing left to abort.
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// Not supported on this platform (a Windows SOCKET is not exposed by Node as an fd).
#[cfg(not(unix))]
pub fn shutdown_socket(_fd: i64) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "shutting down a socket by fd is only supported on Unix"))
}
