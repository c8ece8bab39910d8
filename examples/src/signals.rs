//! Signals as events: the handler writes the signal number to a self-pipe, a normal
//! thread reads it and acts.
//!
//! This is the async-signal safety lesson (docs/LESSONS.md): a handler may interrupt `malloc`, a
//! lock holder or a half-written `println!`, so it must not call any of them. Here the
//! handler does one `write(2)` (async-signal-safe) and restores `errno`; the shutdown,
//! reload and reaping logic runs in the worker's main loop, where anything is allowed.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use server_agent::write_from_handler;

static EVENT_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    write_from_handler(EVENT_FD.load(Ordering::Relaxed), signal as u8);
}

/// Receives the signals it was created for as bytes on a pipe.
pub struct SignalEvents {
    read: OwnedFd,
    _write: OwnedFd,
}

impl SignalEvents {
    /// Routes `signals` to this pipe with SA_RESTART: slow calls elsewhere resume
    /// (see the SA_RESTART table in `man 7 signal`).
    pub fn install(signals: &[Signal]) -> nix::Result<SignalEvents> {
        SignalEvents::install_with(signals, SaFlags::SA_RESTART)
    }

    /// Routes `signals` to this pipe *without* SA_RESTART: a blocking call such as
    /// `waitpid` on the receiving thread fails with EINTR, so the caller can look at
    /// the events and then retry the call (the PEP 475 loop).
    pub fn install_interrupting(signals: &[Signal]) -> nix::Result<SignalEvents> {
        SignalEvents::install_with(signals, SaFlags::empty())
    }

    fn install_with(signals: &[Signal], flags: SaFlags) -> nix::Result<SignalEvents> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC)?;
        EVENT_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        let action = SigAction::new(SigHandler::Handler(on_signal), flags, SigSet::empty());
        for &signal in signals {
            // SAFETY: the handler only writes one byte to a pipe (see module docs).
            unsafe { sigaction(signal, &action) }?;
        }
        Ok(SignalEvents {
            read,
            _write: write,
        })
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Signals received since the last call, oldest first.
    pub fn take(&self) -> Vec<Signal> {
        let mut received = Vec::new();
        let mut buffer = [0u8; 64];
        loop {
            match nix::unistd::read(self.read.as_fd(), &mut buffer) {
                Ok(0) => break,
                Ok(n) => received.extend(
                    buffer[..n]
                        .iter()
                        .filter_map(|&b| Signal::try_from(b as i32).ok()),
                ),
                Err(Errno::EINTR) => continue,
                Err(_) => break,
            }
        }
        received
    }
}
