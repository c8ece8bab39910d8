//! Why connecting or talking to an agent failed. Every message says what happened
//! and what to do next; the CLI prints them as they are.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no process with pid {pid}; check the pid with `ps` or `pgrep` and try again")]
    NoSuchProcess { pid: u32 },
    #[error("pid {pid} runs as uid {owner}; run attach as that user (e.g. `sudo -u '#{owner}' attach {pid}`) or as root")]
    PermissionDenied { pid: u32, owner: u32 },
    #[error(
        "process {pid} ({name}) does not catch {signal}, so it has no attach agent; nothing was sent. \
         Embed server-agent in it (see the README), or pass --signal if its agent uses another signal"
    )]
    NoAgent {
        pid: u32,
        name: String,
        signal: Signal,
    },
    #[error("another attach session is open on pid {pid} (it holds {}); wait for it to end and try again", .path.display())]
    Busy { pid: u32, path: PathBuf },
    #[error(
        "refusing to use {}: {reason}. It was not made by attach for you; inspect it with `ls -l {}` \
         and remove it with `rm {}` if you trust that it is harmless",
        .path.display(), .path.display(), .path.display()
    )]
    Planted { path: PathBuf, reason: String },
    #[error(
        "the agent in pid {pid} did not answer within {}s; it may be busy with a slow command. \
         Try again, or raise --timeout", .after.as_secs_f64()
    )]
    Timeout { pid: u32, after: Duration },
    #[error(
        "process {pid} runs in another mount namespace (a container) and its /tmp is out of reach: {reason}. \
         The kernel opens /proc/{pid}/root only to the worker's own uid or to CAP_SYS_PTRACE: run attach \
         as that uid or as root on the host, or inside the container (`kubectl debug`: run as the \
         worker's uid, or add CAP_SYS_PTRACE with --profile=general; see docs/FLEET.md)"
    )]
    Namespace { pid: u32, reason: String },
    #[error("process {pid} exited")]
    Exited { pid: u32 },
    #[error("the agent closed the session ({reason}); attach again to start a new one")]
    Closed { reason: String },
    #[error("{0}")]
    Version(String),
    #[error("the agent sent something that is not a valid reply ({0}); is the agent the same version as attach?")]
    BadReply(String),
    #[error("interrupted")]
    Interrupted,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ConnectError {
    pub(crate) fn io(what: impl Into<String>, source: impl Into<std::io::Error>) -> ConnectError {
        ConnectError::Io {
            what: what.into(),
            source: source.into(),
        }
    }
}
