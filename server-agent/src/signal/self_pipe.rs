//! The only thing a signal handler of ours does: write one byte to a self-pipe,
//! leaving `errno` as the interrupted code had it.
//!
//! Shared by the doorbell and by hosts that route their own signals the same way (the
//! examples' `SignalEvents`). Nothing here may allocate, lock, log or block.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::libc;

/// Saves this thread's `errno` and restores it when dropped, so a handler's system
/// call never changes what the interrupted code sees.
struct ErrnoGuard(i32);

impl ErrnoGuard {
    fn save() -> ErrnoGuard {
        ErrnoGuard(Errno::last_raw())
    }
}

impl Drop for ErrnoGuard {
    fn drop(&mut self) {
        Errno::set_raw(self.0);
    }
}

/// Writes `byte` to `fd`, a non-blocking pipe, from inside a signal handler.
///
/// Async-signal-safe (`man 7 signal-safety`): one `write(2)`, `errno` preserved. A
/// negative `fd` (no pipe yet) does nothing; a full pipe drops the byte, which is
/// fine when any pending byte already means "look".
pub fn write_from_handler(fd: RawFd, byte: u8) {
    if fd < 0 {
        return;
    }
    let _errno = ErrnoGuard::save();
    // SAFETY: write(2) is async-signal-safe; `byte` outlives the call and the length
    // is 1. A closed or invalid fd only makes write fail (EBADF), which is ignored
    // like EAGAIN; the guard restores errno either way.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd, AsRawFd};

    use nix::fcntl::OFlag;

    use super::*;

    #[test]
    fn bytes_arrive_and_errno_is_left_as_it_was_even_when_the_pipe_is_full() {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        Errno::set_raw(Errno::ENOENT as i32);
        write_from_handler(write.as_raw_fd(), 7);
        assert_eq!(Errno::last(), Errno::ENOENT);
        let mut byte = [0u8; 1];
        assert_eq!(nix::unistd::read(read.as_fd(), &mut byte), Ok(1));
        assert_eq!(byte, [7]);
        // Past the pipe's capacity every write fails with EAGAIN, unseen by the caller.
        for _ in 0..100_000 {
            write_from_handler(write.as_raw_fd(), 1);
        }
        write_from_handler(-1, 1);
        assert_eq!(Errno::last(), Errno::ENOENT);
    }
}
