//! Noticing that the worker exited while the client waits for its own input: a
//! piped stdin that stays open (`attach PID < <(sleep 30)`), or a person at the
//! prompt. The session's own waits already watch the target; this covers the time
//! between commands, so the client says so within a second and exits 2.
//!
//! A pidfd of the target becomes readable the moment it exits. It is opened after
//! the target was inspected and checked against the inspected start time, so a
//! reused pid is never mistaken for it; where pidfds are missing (old kernels,
//! seccomp) the target is checked every `CHECK` instead. Never signals anything.

use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use attach_cli::Target;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::interrupt;

/// How often the target and the Ctrl-C flag are checked while nothing happens.
const CHECK: Duration = Duration::from_millis(200);

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The input has something to read (or reached its end).
    Input,
    /// The target exited.
    Exited,
    /// Ctrl-C, SIGTERM or SIGHUP asked us to stop.
    Interrupted,
}

/// Watches one target for its exit.
pub struct ExitWatch {
    target: Target,
    pidfd: Option<OwnedFd>,
}

impl ExitWatch {
    pub fn new(target: &Target) -> ExitWatch {
        let pidfd = open_pidfd(target.pid).filter(|_| target.is_alive());
        ExitWatch {
            target: target.clone(),
            pidfd,
        }
    }

    pub fn pid(&self) -> u32 {
        self.target.pid
    }

    /// Waits until `input` is readable, the target exits, or a stop is requested.
    pub fn wait_for_input(&self, input: BorrowedFd<'_>) -> Woken {
        loop {
            if let Some(woken) = self.check(Some(input)) {
                return woken;
            }
            if interrupt::requested() {
                return Woken::Interrupted;
            }
        }
    }

    /// Blocks until the target exits (for a watcher thread).
    pub fn wait_for_exit(&self) {
        while self.check(None) != Some(Woken::Exited) {}
    }

    /// One wait of at most `CHECK`.
    fn check(&self, input: Option<BorrowedFd<'_>>) -> Option<Woken> {
        let mut fds: Vec<PollFd<'_>> = input
            .into_iter()
            .chain(self.pidfd.as_ref().map(AsFd::as_fd))
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        let timeout = PollTimeout::try_from(CHECK).unwrap_or(PollTimeout::MAX);
        let ready = match poll(&mut fds, timeout) {
            Ok(ready) => ready,
            Err(Errno::EINTR) => 0,
            Err(_) => {
                std::thread::sleep(CHECK);
                0
            }
        };
        let woke = |fd: &PollFd<'_>| fd.revents().is_some_and(|events| !events.is_empty());
        let exited = match self.pidfd {
            Some(_) => fds.last().is_some_and(woke),
            None => !self.target.is_alive(),
        };
        if exited {
            return Some(Woken::Exited);
        }
        (ready > 0 && input.is_some() && woke(&fds[0])).then_some(Woken::Input)
    }
}

fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid as nix::libc::pid_t, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just returned `fd`; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}
