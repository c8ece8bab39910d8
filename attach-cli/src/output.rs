//! Writing results to stdout without panicking when the reader goes away.
//!
//! `attach ... | head -2` closes our stdout early. `println!` would panic on the
//! broken pipe; here the write fails with `OutputClosed`, which the caller passes up
//! so the session still leaves through `Drop` (FIFOs removed) and `main` exits
//! quietly. Text given here is already escaped (see `escape`); this module adds
//! nothing and must never print on stderr.

use std::io::Write;
use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// Stdout can no longer be written: its reader closed it, or the write failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output")]
pub struct OutputClosed(#[source] pub std::io::Error);

impl OutputClosed {
    /// True when the reader went away (a broken pipe), not a failing disk.
    pub fn reader_left(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes `bytes` to descriptor 1 directly, without Rust's buffered `Stdout` (which
/// allocates its buffer when first used).
pub fn write_unbuffered(mut bytes: &[u8]) -> Result<(), OutputClosed> {
    // SAFETY: descriptor 1 stays open for the life of the process (`start` reopens
    // it on /dev/null if it was closed), and nothing closes it.
    let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(1) };
    while !bytes.is_empty() {
        match nix::unistd::write(stdout, bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(OutputClosed(errno.into())),
        }
    }
    Ok(())
}

/// Writes `text` and a newline to stdout, and flushes.
pub fn line(text: &str) -> Result<(), OutputClosed> {
    write(&format!("{text}\n"))
}

/// Writes `text` to stdout as it is, and flushes.
pub fn write(text: &str) -> Result<(), OutputClosed> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(OutputClosed)
}

/// True once stdout is a pipe nobody reads any more (or a terminal that hung up),
/// found without writing to it, within `wait`.
pub fn closed_within(wait: std::time::Duration) -> bool {
    let stdout = std::io::stdout();
    // No events asked for: poll still reports POLLERR (a pipe without readers) and
    // POLLHUP, and files and terminals in working order report nothing.
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    poll(&mut fds, timeout).is_ok_and(|ready| ready > 0)
        && fds[0]
            .revents()
            .is_some_and(|events| events.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
}
