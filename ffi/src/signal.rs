//! A file descriptor that is readable while messages wait for `tether_client_recv`: an
//! eventfd on Linux, a non-blocking pipe elsewhere. Raised and cleared under the inbox lock,
//! so its state always matches the inbox.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(crate) struct Signal {
    /// The end C polls.
    read: OwnedFd,
    /// The end tether writes (the same descriptor for an eventfd).
    write: Option<OwnedFd>,
}

impl Signal {
    #[cfg(target_os = "linux")]
    pub(crate) fn new() -> std::io::Result<Signal> {
        // SAFETY: eventfd has no memory arguments; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        Ok(Signal { read: unsafe { OwnedFd::from_raw_fd(fd) }, write: None })
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new() -> std::io::Result<Signal> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: `fds` has room for the two descriptors pipe writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors are new and owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in &fds {
            // SAFETY: fcntl on descriptors we own.
            unsafe {
                libc::fcntl(*fd, libc::F_SETFL, libc::O_NONBLOCK);
                libc::fcntl(*fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Signal { read, write: Some(write) })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Makes the descriptor readable (call once when the inbox stops being empty).
    pub(crate) fn raise(&self) {
        let fd = self.write.as_ref().unwrap_or(&self.read).as_raw_fd();
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to a descriptor we own. A failure (the
        // counter cannot overflow from one write per empty-to-non-empty change) is harmless.
        let _ = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }

    /// Makes the descriptor not readable (call when the inbox becomes empty).
    pub(crate) fn clear(&self) {
        let mut buf = [0u8; 64];
        // Bounded: an eventfd empties in one read; a pipe holds one byte per raise.
        for _ in 0..64 {
            // SAFETY: reads at most `buf.len()` bytes into a live local buffer from a
            // non-blocking descriptor we own.
            let n = unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 || self.write.is_none() {
                break;
            }
        }
    }
}
