//! How a process announces "an attach agent runs here", without writing any file.
//!
//! The agent keeps one anonymous memory file (`memfd_create`) open whose *name* is
//! the announcement: `attach-agent agent=0.1.0 protocol=1 signal=10 tid=4243
//! dir=/tmp/.attach-4242.<random>`. It shows up in `/proc/<pid>/fd/*` as
//! `/memfd:<name> (deleted)`, readable by the same users who may attach (same uid or
//! root), and it disappears with the process, so a worker killed with SIGKILL can never
//! stay listed. The agent thread (`tid`) is also named `attach-agent`; discovery
//! requires both. `dir` is the agent's private rendezvous directory.
//!
//! An announcement is a claim, not a proof: anything running as the worker's uid, or
//! a parent that leaked a descriptor into it, can add one. Clients therefore accept
//! only a doorbell that cannot hurt a process (`is_doorbell`) and refuse a process
//! whose announcements disagree.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use nix::sys::signal::Signal;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::procfs::ProcStatus;

/// Name of the agent thread (`/proc/<pid>/task/<tid>/comm`).
pub const AGENT_THREAD_NAME: &str = "attach-agent";

const PREFIX: &str = "attach-agent ";

/// What the announcement says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentMarker {
    /// The server-agent version.
    pub agent_version: String,
    /// The agent's `PROTOCOL_VERSION`.
    pub protocol: u32,
    /// The doorbell signal number.
    pub signal: i32,
    /// The agent thread, which the doorbell is sent to.
    pub tid: u32,
    /// The agent's private rendezvous directory, as the agent sees it.
    pub dir: Option<String>,
}

/// True for the signals a doorbell may be: SIGUSR1, SIGUSR2 or a real-time signal.
/// Any other signal could stop, kill or otherwise disturb a process.
pub fn is_doorbell(signal: i32) -> bool {
    signal == nix::libc::SIGUSR1
        || signal == nix::libc::SIGUSR2
        || (nix::libc::SIGRTMIN()..=nix::libc::SIGRTMAX()).contains(&signal)
}

impl fmt::Display for AgentMarker {
    /// The memfd name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}agent={} protocol={} signal={} tid={}",
            self.agent_version, self.protocol, self.signal, self.tid
        )?;
        match &self.dir {
            Some(dir) => write!(f, " dir={dir}"),
            None => Ok(()),
        }
    }
}

impl AgentMarker {
    /// Reads a `/proc/<pid>/fd/N` link target; None unless it is an announcement.
    pub fn from_fd_link(target: &str) -> Option<AgentMarker> {
        let name = target.strip_prefix("/memfd:")?;
        let name = name.strip_suffix(" (deleted)").unwrap_or(name);
        let fields = name.strip_prefix(PREFIX)?;
        let value = |key: &str| {
            fields
                .split_whitespace()
                .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
        };
        Some(AgentMarker {
            agent_version: value("agent")?.to_owned(),
            protocol: value("protocol")?.parse().ok()?,
            signal: value("signal")?.parse().ok()?,
            tid: value("tid")?.parse().ok()?,
            dir: value("dir").map(str::to_owned),
        })
    }

    /// The announcement of `pid`, its `tid` translated to our pid namespace: None if
    /// it makes none, an error saying why if it makes several that disagree or its
    /// descriptors are closed to us. Announcements naming a thread that is not in the
    /// process are stale (inherited across `fork` from a parent's agent) and ignored.
    /// `status` is the process's `/proc/<pid>/status`, read by the caller.
    pub fn of_process(pid: u32, status: &ProcStatus) -> Result<Option<AgentMarker>, String> {
        let closed = |err: std::io::Error| {
            format!(
                "its descriptors (/proc/{pid}/fd), where an agent announces itself, are closed \
                 to you ({err}); the kernel shows them only to the worker's own uid or to \
                 CAP_SYS_PTRACE, so nothing was sent"
            )
        };
        let links = match descriptor_links(pid) {
            Ok(Some(links)) => links,
            Ok(None) => return Ok(None),
            Err(errno) => return Err(closed(errno.into())),
        };
        let mut found: Vec<AgentMarker> = Vec::new();
        let markers = links
            .iter()
            .filter_map(|target| AgentMarker::from_fd_link(target))
            .filter_map(|marker| {
                let tid = our_tid(pid, marker.tid, status.in_proc_pid_namespace())?;
                Some(AgentMarker { tid, ..marker })
            });
        for marker in markers {
            if !found.contains(&marker) {
                found.push(marker);
            }
        }
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            several => Err(format!(
                "it carries {} attach announcements that disagree ({}); one was probably \
                 inherited from a wrapper or parent process, so which doorbell to ring is \
                 unknown and nothing was sent",
                several.len(),
                several
                    .iter()
                    .map(|marker| format!("\"{marker}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// The link target of every open descriptor of `pid`, or None once it is gone; an
/// error only when the kernel refuses us (another uid's process). The directory is
/// opened once and each link is read relative to it: one name to look up per
/// descriptor instead of a path of four.
fn descriptor_links(pid: u32) -> Result<Option<Vec<String>>, Errno> {
    let denied = |errno: Errno| matches!(errno, Errno::ACCESS | Errno::PERM);
    let dir = match rustix::fs::open(
        format!("/proc/{pid}/fd"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(dir) => dir,
        Err(errno) if denied(errno) => return Err(errno),
        Err(_) => return Ok(None),
    };
    let Ok(mut entries) = rustix::fs::Dir::new(dir) else {
        return Ok(None);
    };
    let mut names = Vec::new();
    // A listing that fails part way (the process exited) ends with what it read.
    while let Some(Ok(entry)) = entries.read() {
        if !entry.file_name().to_bytes().starts_with(b".") {
            names.push(entry.file_name().to_owned());
        }
    }
    let Ok(dir) = entries.fd() else {
        return Ok(None);
    };
    let mut links = Vec::with_capacity(names.len());
    for name in names {
        match rustix::fs::readlinkat(dir, name.as_c_str(), Vec::new()) {
            Ok(link) => links.push(link.to_string_lossy().into_owned()),
            Err(errno) if denied(errno) => return Err(errno),
            // Closed since the listing.
            Err(_) => {}
        }
    }
    Ok(Some(links))
}

/// The thread of `pid` that calls itself `tid` in its own pid namespace (the last
/// `NSpid` entry), as we (and `/proc`) number it. A process in the pid namespace of
/// `/proc` numbers its threads as `/proc` does, so the thread only has to be one of
/// its own (`/proc/<pid>/task` lists no other process's threads).
fn our_tid(pid: u32, tid: u32, in_proc_namespace: Option<bool>) -> Option<u32> {
    if in_proc_namespace == Some(true) {
        return Path::new(&format!("/proc/{pid}/task/{tid}"))
            .exists()
            .then_some(tid);
    }
    let own_ns_tid = |task: u32| {
        ProcStatus::read(format!("/proc/{pid}/task/{task}/status"))
            .ok()?
            .namespaced_pid()
    };
    if own_ns_tid(tid) == Some(tid) {
        return Some(tid);
    }
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .filter_map(|task| task.file_name().to_str()?.parse::<u32>().ok())
        .find(|&task| own_ns_tid(task) == Some(tid))
}

/// The doorbell signal named `text`: `SIGUSR2`, `USR2` or `usr2`.
pub fn parse_signal(text: &str) -> Option<Signal> {
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_round_trips_through_a_proc_link() {
        let marker = AgentMarker {
            agent_version: "0.1.0".into(),
            protocol: 1,
            signal: 10,
            tid: 43,
            dir: Some("/tmp/.attach-42.x".into()),
        };
        let link = format!("/memfd:{marker} (deleted)");
        assert_eq!(AgentMarker::from_fd_link(&link), Some(marker.clone()));
        let without_dir = AgentMarker {
            dir: None,
            ..marker
        };
        let link = format!("/memfd:{without_dir} (deleted)");
        assert_eq!(AgentMarker::from_fd_link(&link), Some(without_dir));
        assert_eq!(
            AgentMarker::from_fd_link("/memfd:something else (deleted)"),
            None
        );
        assert_eq!(AgentMarker::from_fd_link("/tmp/attach-agent agent=1"), None);
    }

    #[test]
    fn only_harmless_signals_are_doorbells() {
        assert!(is_doorbell(nix::libc::SIGUSR1) && is_doorbell(nix::libc::SIGUSR2));
        assert!(is_doorbell(nix::libc::SIGRTMIN() + 1));
        for harmful in [0, 9, 15, 17, 19, 2, 1, -1, 65] {
            assert!(!is_doorbell(harmful), "{harmful}");
        }
    }
}
