//! Noticing that the worker exited while the client waits for its own input: a
//! piped stdin that stays open (`attach PID < <(sleep 30)`), or a person at the
//! prompt. The session's own waits already watch the target; this covers the time
//! between commands, so the client says so within a second and exits 2.
//!
//! The target's pidfd (`Target::pidfd`, opened before the target was inspected, so a
//! reused pid is never mistaken for it) becomes readable the moment it exits; where
//! pidfds are missing (old kernels, seccomp) the target is checked every `CHECK`
//! instead. Never signals anything.

use std::os::fd::BorrowedFd;
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
}

impl ExitWatch {
    pub fn new(target: &Target) -> ExitWatch {
        ExitWatch {
            target: target.clone(),
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
            .chain(self.target.pidfd())
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
        let exited = match self.target.pidfd() {
            Some(_) => fds.last().is_some_and(woke),
            None => !self.target.is_alive(),
        };
        if exited {
            return Some(Woken::Exited);
        }
        (ready > 0 && input.is_some() && woke(&fds[0])).then_some(Woken::Input)
    }
}
