//! What we know about the target process before sending it anything.
//!
//! `attach` must never kill a process that has no agent: SIGUSR1's default action is
//! to terminate. So before any signal we read `/proc/<pid>/status` and require that
//! the process catches the doorbell signal (its `SigCgt` mask), and that we are
//! allowed to signal it (same effective uid, or root).
//!
//! A target in its own pid and mount namespaces (a container) is reached by its host
//! pid: its agent names FIFOs after its namespaced pid (the last `NSpid` entry) in
//! its own `/tmp`, which the host sees as `/proc/<pid>/root/tmp`.

use std::path::{Path, PathBuf};

use attach_protocol::procfs::start_ticks;
use attach_protocol::{FifoPaths, ProcStatus};
use nix::sys::signal::Signal;

use crate::error::ConnectError;

/// A live process we may attach to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The pid as we see it.
    pub pid: u32,
    /// Its process name.
    pub name: String,
    /// Effective uid of the target.
    pub uid: u32,
    /// Where its FIFOs live, named as the target sees itself.
    pub(crate) paths: FifoPaths,
    /// Start time in clock ticks since boot; tells a restarted pid apart.
    start_ticks: u64,
}

impl Target {
    /// Inspects `pid` and checks that it can be attached to with `signal`.
    pub fn inspect(pid: u32, signal: Signal) -> Result<Target, ConnectError> {
        let status = ProcStatus::of_pid(pid).map_err(|_| ConnectError::NoSuchProcess { pid })?;
        let start_ticks = start_ticks(pid).ok_or(ConnectError::NoSuchProcess { pid })?;
        let name = status.name().unwrap_or("?").to_owned();
        let uid = status.euid().ok_or(ConnectError::NoSuchProcess { pid })?;
        let me = nix::unistd::geteuid().as_raw();
        if me != 0 && me != uid {
            return Err(ConnectError::PermissionDenied { pid, owner: uid });
        }
        if status.has_signal("SigCgt", signal as i32) != Some(true) {
            return Err(ConnectError::NoAgent { pid, name, signal });
        }
        let ns_pid = status.namespaced_pid().unwrap_or(pid);
        Ok(Target {
            pid,
            name,
            uid,
            paths: FifoPaths::in_dir(&fifo_dir(pid)?, ns_pid),
            start_ticks,
        })
    }

    /// False once the process has exited (or its pid was reused).
    pub fn is_alive(&self) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok();
        let state = stat.and_then(|stat| {
            let after_name = stat.get(stat.rfind(')')? + 2..)?.to_owned();
            after_name.chars().next()
        });
        matches!(state, Some(s) if s != 'Z' && s != 'X')
            && start_ticks(self.pid) == Some(self.start_ticks)
    }
}

/// `/tmp` if the target shares our mount namespace, else its `/tmp` seen through
/// `/proc/<pid>/root`.
fn fifo_dir(pid: u32) -> Result<PathBuf, ConnectError> {
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt"));
    match theirs {
        Ok(theirs) if Some(&theirs) == ours.as_ref() => {
            Ok(PathBuf::from(attach_protocol::paths::FIFO_DIR))
        }
        Ok(_) => {
            let dir = PathBuf::from(format!("/proc/{pid}/root/tmp"));
            reachable(pid, &dir)?;
            Ok(dir)
        }
        Err(err) => Err(ConnectError::Namespace {
            pid,
            reason: format!("cannot read /proc/{pid}/ns/mnt: {err}"),
        }),
    }
}

fn reachable(pid: u32, dir: &Path) -> Result<(), ConnectError> {
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(ConnectError::Namespace {
            pid,
            reason: format!("{} is not a directory", dir.display()),
        }),
        Err(err) => Err(ConnectError::Namespace {
            pid,
            reason: format!("cannot reach {}: {err}", dir.display()),
        }),
    }
}
