//! What we know about the target process before sending it anything, and the one
//! place that signals it.
//!
//! `attach` must never harm a process that has no agent: SIGUSR1's default action is
//! to terminate. So before any signal we require that the process announces an agent
//! (see `discover::announcement`), that the announced doorbell is a harmless signal the
//! process catches (`SigCgt`), that the announced thread is its `attach-agent` thread,
//! and that we are allowed to signal it (same effective uid, or root).
//!
//! The doorbell goes to the agent thread only, so threads the host started before the
//! agent, which may not block it, are never interrupted. A pid reused since the checks
//! never gets the signal. Every `/proc/<pid>` read is of the process inspected: a
//! pidfd opened first (or, without pidfds, its start time read first) is checked for
//! an exit after the last of them. Where the kernel offers thread pidfds (Linux 6.9),
//! one is opened before the agent thread is checked and the signal goes through it,
//! so it reaches that very thread or nothing; elsewhere `tgkill` follows a fresh look
//! at the process (alive) and the thread (same start time).
//!
//! Every file of the session lives in a directory of the target's root, resolved
//! from a handle on that root without following symlinks (`attach_protocol::dir`).
//! For a target in its own mount namespace (a container) the root is
//! `/proc/<pid>/root`, and its agent names FIFOs after its namespaced pid.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use attach_protocol::procfs::ProcStat;
use attach_protocol::{is_doorbell, AgentMarker, Dir, DirKind, FifoPaths, ProcStatus};
use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;

use crate::error::ConnectError;

/// How the process inspected is told apart from whatever has its pid later.
#[derive(Debug, Clone)]
enum Identity {
    /// A pidfd opened before the checks: it turns readable once the process exits.
    Pidfd(Arc<OwnedFd>),
    /// Its start time in clock ticks since boot, where pidfds are missing (old
    /// kernels, seccomp).
    StartTicks(u64),
}

/// How the doorbell reaches the agent thread, and only it.
#[derive(Debug, Clone)]
enum Doorbell {
    /// A pidfd of the thread, opened before its name was checked (Linux 6.9).
    ThreadPidfd(Arc<OwnedFd>),
    /// `tgkill` to thread `tid`, once its start time (clock ticks since boot) is
    /// found the same as when it was checked.
    Tgkill { tid: u32, tid_start_ticks: u64 },
}

/// A live process we may attach to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The pid as we see it.
    pub pid: u32,
    /// Its process name.
    pub name: String,
    /// Effective uid of the target.
    pub uid: u32,
    /// Its FIFO names, after the pid it sees itself as.
    pub(crate) paths: FifoPaths,
    /// The doorbell signal number.
    signal: i32,
    /// The agent's private directory, as the agent sees it.
    private_dir: Option<String>,
    /// A handle on the target's root directory, and how messages show it.
    root: Arc<OwnedFd>,
    root_shown: PathBuf,
    /// Tells the process inspected from whatever has its pid later.
    identity: Identity,
    doorbell: Doorbell,
}

impl Target {
    /// Inspects `pid` and checks that it can be attached to. `signal`, if given, is
    /// the doorbell the agent must announce.
    pub fn inspect(pid: u32, signal: Option<Signal>) -> Result<Target, ConnectError> {
        let identity = match pidfd_open(pid)? {
            Some(pidfd) => Identity::Pidfd(Arc::new(pidfd)),
            None => Identity::StartTicks(
                ProcStat::of_pid(pid)
                    .ok_or(ConnectError::NoSuchProcess { pid })?
                    .start_ticks,
            ),
        };
        let status = ProcStatus::of_pid(pid).map_err(|_| ConnectError::NoSuchProcess { pid })?;
        let name = status.name().unwrap_or("?").to_owned();
        let uid = status.euid().ok_or(ConnectError::NoSuchProcess { pid })?;
        let me = nix::unistd::geteuid().as_raw();
        if me != 0 && me != uid {
            return Err(ConnectError::PermissionDenied { pid, owner: uid });
        }
        let (root, root_shown) = open_root(pid)?;
        let marker = AgentMarker::of_process(pid, &status)
            .map_err(|reason| ConnectError::Announcements { pid, reason })?
            .ok_or_else(|| ConnectError::Unannounced {
                pid,
                name: name.clone(),
            })?;
        if !is_doorbell(marker.signal) {
            return Err(ConnectError::BadDoorbell {
                pid,
                signal: marker.signal,
            });
        }
        // Another signal than the announced one would reach a handler of the host's.
        if let Some(given) = signal.filter(|given| *given as i32 != marker.signal) {
            return Err(ConnectError::OtherDoorbell {
                pid,
                name,
                announced: signal_name(marker.signal),
                given: given.to_string(),
            });
        }
        let signal = marker.signal;
        if status.has_signal("SigCgt", signal) != Some(true) {
            return Err(ConnectError::NoAgent {
                pid,
                name,
                signal: signal_name(signal),
            });
        }
        let tid = marker.tid;
        let thread = open_pidfd(tid, libc::PIDFD_THREAD as libc::c_int).ok();
        let tid_start_ticks =
            agent_thread_start(pid, tid).ok_or_else(|| ConnectError::Announcements {
                pid,
                reason: format!(
                    "its announcement names thread {tid}, which is not its {} thread",
                    attach_protocol::AGENT_THREAD_NAME
                ),
            })?;
        let doorbell = match thread {
            Some(thread) => Doorbell::ThreadPidfd(Arc::new(thread)),
            None => Doorbell::Tgkill {
                tid,
                tid_start_ticks,
            },
        };
        let ns_pid = status.namespaced_pid().unwrap_or(pid);
        let target = Target {
            pid,
            name,
            uid,
            paths: FifoPaths::for_pid(ns_pid),
            signal,
            private_dir: marker.dir.filter(|dir| is_private_dir_of(dir, ns_pid)),
            root: Arc::new(root),
            root_shown,
            identity,
            doorbell,
        };
        // Alive now, so every `/proc/<pid>` read above was of the process inspected.
        if !target.is_alive() {
            return Err(ConnectError::Exited { pid });
        }
        Ok(target)
    }

    /// The target's shared `/tmp`, which must be a real sticky directory in its root.
    pub fn shared_dir(&self) -> Result<Dir, ConnectError> {
        self.dir_in_root(attach_protocol::paths::FIFO_DIR, DirKind::Shared)
    }

    /// The agent's private directory, if it announced one.
    pub fn private_dir(&self) -> Option<Result<Dir, ConnectError>> {
        let dir = self.private_dir.as_deref()?;
        Some(self.dir_in_root(dir, DirKind::Private { uid: self.uid }))
    }

    fn dir_in_root(&self, inner: &str, kind: DirKind) -> Result<Dir, ConnectError> {
        let shown = self.root_shown.join(inner.trim_start_matches('/'));
        Dir::in_root(self.root.as_fd(), inner, shown, kind).map_err(|err| {
            ConnectError::Rendezvous {
                pid: self.pid,
                reason: err.to_string(),
            }
        })
    }

    /// Rings the doorbell on the agent thread, if process and thread are still the
    /// ones inspected.
    pub fn ring(&self) -> Result<(), ConnectError> {
        let sent = match &self.doorbell {
            // SAFETY: pidfd_send_signal takes a descriptor we own, a signal number and
            // no siginfo (null); it touches no memory of ours.
            Doorbell::ThreadPidfd(thread) => unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    thread.as_raw_fd(),
                    self.signal,
                    std::ptr::null::<libc::siginfo_t>(),
                    libc::PIDFD_SIGNAL_THREAD,
                )
            },
            Doorbell::Tgkill {
                tid,
                tid_start_ticks,
            } => {
                if !self.is_alive() {
                    return Err(ConnectError::Exited { pid: self.pid });
                }
                if agent_thread_start(self.pid, *tid) != Some(*tid_start_ticks) {
                    return Err(ConnectError::AgentThreadEnded { pid: self.pid });
                }
                // SAFETY: tgkill takes plain integers and touches no memory of ours.
                unsafe {
                    libc::syscall(
                        libc::SYS_tgkill,
                        self.pid as libc::pid_t,
                        *tid as libc::pid_t,
                        self.signal,
                    )
                }
            }
        };
        match Errno::result(sent) {
            Ok(_) => Ok(()),
            Err(Errno::ESRCH) if self.is_alive() => {
                Err(ConnectError::AgentThreadEnded { pid: self.pid })
            }
            Err(Errno::ESRCH) => Err(ConnectError::Exited { pid: self.pid }),
            Err(Errno::EPERM) => Err(ConnectError::PermissionDenied {
                pid: self.pid,
                owner: self.uid,
            }),
            Err(errno) => Err(ConnectError::io("cannot signal the agent thread", errno)),
        }
    }

    /// The pidfd opened before the checks (readable once the process exits), if the
    /// kernel offers pidfds.
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        match &self.identity {
            Identity::Pidfd(pidfd) => Some(pidfd.as_fd()),
            Identity::StartTicks(_) => None,
        }
    }

    /// False once the process has exited (or its pid was reused).
    pub fn is_alive(&self) -> bool {
        match &self.identity {
            Identity::Pidfd(pidfd) => {
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::ZERO).is_ok_and(|ready| ready == 0)
            }
            Identity::StartTicks(start_ticks) => ProcStat::of_pid(self.pid)
                .is_some_and(|stat| stat.is_running() && stat.start_ticks == *start_ticks),
        }
    }
}

/// A pidfd for `pid`: it keeps naming that very process, even after the pid is
/// reused. None where the kernel or a seccomp filter does not offer pidfds.
fn pidfd_open(pid: u32) -> Result<Option<OwnedFd>, ConnectError> {
    match open_pidfd(pid, 0) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ESRCH | Errno::EINVAL) => Err(ConnectError::NoSuchProcess { pid }),
        Err(_) => Ok(None),
    }
}

/// `pidfd_open(2)`: a pidfd for a process (`flags` 0) or, with `PIDFD_THREAD` (Linux
/// 6.9), for one thread.
fn open_pidfd(id: u32, flags: libc::c_int) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes plain integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id as libc::pid_t, flags) };
    // SAFETY: a non-negative return is a descriptor that nothing else owns.
    Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// A handle on the target's root: ours if it shares our mount namespace, else
/// `/proc/<pid>/root`.
fn open_root(pid: u32) -> Result<(OwnedFd, PathBuf), ConnectError> {
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/mnt")).map_err(|err| {
        ConnectError::Namespace {
            pid,
            reason: format!(
                "cannot read /proc/{pid}/ns/mnt to tell whether it runs in a container ({err})"
            ),
        }
    })?;
    let root = if Some(&theirs) == ours.as_ref() {
        PathBuf::from("/")
    } else {
        PathBuf::from(format!("/proc/{pid}/root"))
    };
    let fd = open(
        &root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|errno| ConnectError::Namespace {
        pid,
        reason: format!(
            "it runs in another mount namespace (a container) and {} cannot be opened ({errno})",
            root.display()
        ),
    })?;
    Ok((fd, root))
}

/// `SIGUSR1`, or `signal 34` for signals without a name.
fn signal_name(signal: i32) -> String {
    Signal::try_from(signal).map_or_else(|_| format!("signal {signal}"), |s| s.to_string())
}

/// True if `dir` is a name the agent of `ns_pid` makes for itself
/// (`/tmp/.attach-<its pid>.<nonce>`); any other announced directory is not used.
fn is_private_dir_of(dir: &str, ns_pid: u32) -> bool {
    dir.strip_prefix(attach_protocol::paths::FIFO_DIR)
        .and_then(|name| name.strip_prefix('/'))
        .and_then(attach_protocol::paths::private_dir_pid)
        == Some(ns_pid)
}

/// The start time of the agent thread `tid` of `pid`, if it is one.
fn agent_thread_start(pid: u32, tid: u32) -> Option<u64> {
    ProcStat::of_thread(pid, tid)
        .filter(|stat| stat.comm == attach_protocol::AGENT_THREAD_NAME)
        .map(|stat| stat.start_ticks)
}

#[cfg(test)]
mod tests {
    use super::is_private_dir_of;

    #[test]
    fn only_the_agents_own_private_directory_name_is_used() {
        let nonce = "0123456789abcdef0123456789abcdef";
        assert!(is_private_dir_of(&format!("/tmp/.attach-42.{nonce}"), 42));
        for other in [
            format!("/tmp/.attach-43.{nonce}"),
            format!("/var/tmp/.attach-42.{nonce}"),
            format!("/tmp/x/.attach-42.{nonce}"),
            format!("/tmp/.attach-42.{nonce}/.."),
            "/tmp/.attach-42.short".to_owned(),
            "/home/someone".to_owned(),
        ] {
            assert!(!is_private_dir_of(&other, 42), "{other}");
        }
    }
}
