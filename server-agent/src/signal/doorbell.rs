//! The doorbell: a signal handler that only wakes the agent thread.
//!
//! A signal handler interrupts arbitrary code on some thread, possibly in the middle
//! of `malloc` or while holding a lock. Anything it calls must therefore be
//! async-signal-safe (`man 7 signal-safety`). This handler does exactly one thing:
//! `write(2)` one byte to a non-blocking self-pipe, preserving `errno`. It never
//! allocates, locks, logs or blocks; a full pipe simply drops the byte, which is fine
//! because one pending byte already means "look at the FIFO". All real work happens
//! on the agent thread, which sleeps in `poll` on the other end of the pipe.
//!
//! Masking: the caller of `install` blocks the signal (threads it spawns later
//! inherit that), and only the agent thread unblocks it, so the handler always runs on
//! the agent thread and never interrupts a request.

use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{
    pthread_sigmask, sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal,
};

use crate::error::AgentError;
use crate::signal::choice::DoorbellSignal;
use crate::signal::self_pipe::write_from_handler;

/// Write end of the self-pipe, read by the handler. -1 until installed.
static WAKE_FD: AtomicI32 = AtomicI32::new(-1);

/// The doorbell signal, read by request guards on every request.
static DOORBELL: AtomicI32 = AtomicI32::new(libc::SIGUSR1);

extern "C" fn ring(_signal: libc::c_int) {
    write_from_handler(WAKE_FD.load(Ordering::Relaxed), 1);
}

/// The signal that rings the doorbell in this process.
pub(crate) fn doorbell_signal() -> Signal {
    Signal::try_from(DOORBELL.load(Ordering::Relaxed)).unwrap_or(Signal::SIGUSR1)
}

/// A set holding only the doorbell signal.
pub(crate) fn doorbell_set() -> SigSet {
    let mut set = SigSet::empty();
    set.add(doorbell_signal());
    set
}

/// The self-pipe: the agent thread polls `read`, the handler writes to the other end.
/// Both ends stay open for the life of the process once the handler is installed, so
/// the handler can never write to a descriptor number the host has reused, and never
/// to a pipe without a reader, even if the agent thread were gone.
pub(crate) struct Doorbell {
    pub(crate) read: BorrowedFd<'static>,
}

/// Installs the handler for `signal` with `SA_RESTART`. Fails, leaving the host's
/// handler in place, if the host already handles that signal.
pub(crate) fn install(doorbell: DoorbellSignal) -> Result<Doorbell, AgentError> {
    let signal = doorbell.as_nix();
    let (read, write) =
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).map_err(AgentError::setup)?;
    // Until the handler is ours for good, the pipe may still be closed: `restore`
    // puts the previous descriptor back first.
    let previous_fd = WAKE_FD.swap(write.as_raw_fd(), Ordering::SeqCst);
    let restore = || WAKE_FD.store(previous_fd, Ordering::SeqCst);
    let action = SigAction::new(
        SigHandler::Handler(ring),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: `ring` is async-signal-safe (see module docs); replacing the
    // disposition is checked right below and undone if it belonged to the host.
    let previous = unsafe { sigaction(signal, &action) }.map_err(|errno| {
        restore();
        AgentError::setup(errno)
    })?;
    let ring_fn = ring as extern "C" fn(libc::c_int);
    let ours =
        matches!(previous.handler(), SigHandler::Handler(f) if std::ptr::fn_addr_eq(f, ring_fn));
    if !ours && !matches!(previous.handler(), SigHandler::SigDfl | SigHandler::SigIgn) {
        // SAFETY: restores exactly what the host had installed a moment ago.
        unsafe { sigaction(signal, &previous) }.map_err(AgentError::setup)?;
        restore();
        return Err(AgentError::SignalInUse(doorbell));
    }
    DOORBELL.store(signal as i32, Ordering::Relaxed);
    // Kept open for the life of the process (see `Doorbell`).
    let _write = write.into_raw_fd();
    let read = read.into_raw_fd();
    // SAFETY: `read` was just released from its `OwnedFd` and is never closed, so
    // the borrow is valid for the rest of the process.
    let read = unsafe { BorrowedFd::borrow_raw(read) };
    Ok(Doorbell { read })
}

/// Blocks the doorbell in the calling thread; threads it spawns inherit the block.
pub(crate) fn block_in_this_thread() {
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&doorbell_set()), None);
}

/// Called first thing on the agent thread: every asynchronous signal but the doorbell
/// is blocked there, so host handlers keep running on host threads and a write to a
/// departed client raises EPIPE instead of SIGPIPE.
pub(crate) fn mask_for_agent_thread() {
    let mut blocked = SigSet::all();
    for synchronous in [
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGFPE,
        Signal::SIGILL,
        Signal::SIGTRAP,
    ] {
        blocked.remove(synchronous);
    }
    blocked.remove(doorbell_signal());
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&blocked), None);
}
