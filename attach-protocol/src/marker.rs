//! How a process announces "an attach agent runs here", without writing any file.
//!
//! The agent keeps one anonymous memory file (`memfd_create`) open whose *name* is
//! the announcement: `attach-agent agent=0.1.0 protocol=1 signal=10`. It shows up in
//! `/proc/<pid>/fd/*` as `/memfd:<name> (deleted)`, readable by the same users who
//! may attach (same uid or root), and it disappears with the process, so a worker
//! killed with SIGKILL can never stay listed. The agent thread is also named
//! `attach-agent`; discovery requires both.

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;

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
}

impl fmt::Display for AgentMarker {
    /// The memfd name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}agent={} protocol={} signal={}",
            self.agent_version, self.protocol, self.signal
        )
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
        })
    }

    /// The announcement among the descriptors of `pid`, if it runs an agent.
    pub fn of_process(pid: u32) -> Option<AgentMarker> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()?
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .find_map(|target| AgentMarker::from_fd_link(&target.to_string_lossy()))
    }
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
        };
        let link = format!("/memfd:{marker} (deleted)");
        assert_eq!(AgentMarker::from_fd_link(&link), Some(marker));
        assert_eq!(
            AgentMarker::from_fd_link("/memfd:something else (deleted)"),
            None
        );
        assert_eq!(AgentMarker::from_fd_link("/tmp/attach-agent agent=1"), None);
    }
}
