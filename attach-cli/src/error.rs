//! Why connecting or talking to an agent failed. Every message says what happened
//! and what to do next; the CLI prints them as they are.

use std::path::PathBuf;
use std::time::Duration;

/// Why a session could not open or went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The pid does not exist.
    #[error("no process with pid {pid}; check the pid with `ps` or `pgrep` and try again")]
    NoSuchProcess {
        /// The target.
        pid: u32,
    },
    /// The target runs as another user and we are not root.
    #[error(
        "pid {pid} runs as uid {owner}; run attach as that user \
         (e.g. `sudo -u '#{owner}' attach {pid}`) or as root"
    )]
    PermissionDenied {
        /// The target.
        pid: u32,
        /// The target's uid.
        owner: u32,
    },
    /// The target does not catch the doorbell signal: nothing was sent.
    #[error(
        "process {pid} ({name}) does not catch {signal}, so it has no attach agent; \
         nothing was sent. Embed server-agent in it (see the README), or pass --signal \
         if its agent uses another signal"
    )]
    NoAgent {
        /// The target.
        pid: u32,
        /// The target's name.
        name: String,
        /// The signal it does not catch.
        signal: String,
    },
    /// `--signal` names another doorbell than the one the agent announces.
    #[error(
        "the agent of process {pid} ({name}) listens for {announced}, not {given}; nothing was \
         sent. Leave out --signal: attach rings the doorbell the agent announces"
    )]
    OtherDoorbell {
        /// The target.
        pid: u32,
        /// The target's name.
        name: String,
        /// The doorbell the agent announces.
        announced: String,
        /// The one `--signal` asked for.
        given: String,
    },
    /// The target makes no agent announcement: nothing was sent.
    #[error(
        "process {pid} ({name}) does not announce an agent, so it has no attach agent; \
         nothing was sent. Embed server-agent in it (see the README)"
    )]
    Unannounced {
        /// The target.
        pid: u32,
        /// The target's name.
        name: String,
    },
    /// The target's announcements cannot be trusted (they disagree, name a thread that
    /// is not its agent's, or cannot be read): nothing was sent.
    #[error("refusing pid {pid}: {reason}")]
    Announcements {
        /// The target.
        pid: u32,
        /// Why.
        reason: String,
    },
    /// The announced doorbell could hurt the process: nothing was sent.
    #[error(
        "pid {pid} names signal {signal} as its doorbell; attach only sends SIGUSR1, SIGUSR2 \
         or a real-time signal, so nothing was sent. Its announcement is forged or broken; \
         check what started it"
    )]
    BadDoorbell {
        /// The target.
        pid: u32,
        /// The announced signal number.
        signal: i32,
    },
    /// The target's FIFO directory is not a safe place (a symlink, not sticky...).
    #[error(
        "cannot use the FIFO directory of pid {pid}: {reason}. Nothing was created or removed \
         there; fix the directory named above (the shared one must be a real sticky /tmp inside \
         the target's root) and try again"
    )]
    Rendezvous {
        /// The target.
        pid: u32,
        /// Why.
        reason: String,
    },
    /// Another session holds the request FIFO.
    #[error(
        "another attach session is open on pid {pid} (it holds {}); \
         wait for it to end and try again",
        .path.display()
    )]
    Busy {
        /// The target.
        pid: u32,
        /// The FIFO path.
        path: PathBuf,
    },
    /// Something at a FIFO path was not made by attach for us.
    #[error(
        "refusing to use {}: {reason}. It was not made by attach for you; \
         inspect it with `ls -l {}` and remove it with `rm {}` if you trust that it is harmless",
        .path.display(), .path.display(), .path.display()
    )]
    Planted {
        /// The FIFO path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The agent did not answer in time.
    #[error(
        "the agent in pid {pid} did not answer within {}s; it may be busy with a slow command. \
         Try again, or raise --timeout", .after.as_secs_f64()
    )]
    Timeout {
        /// The target.
        pid: u32,
        /// The timeout that passed.
        after: Duration,
    },
    /// The target's mount namespace cannot be told, or differs and its `/tmp` is out
    /// of reach.
    #[error(
        "the /tmp of process {pid} is out of reach: {reason}. The kernel shows \
         /proc/{pid}/ns/mnt and opens /proc/{pid}/root only to the worker's own uid or to \
         CAP_SYS_PTRACE (and to no one, for some system processes): run attach \
         as that uid or as root on the host, or inside the container (`kubectl debug`: run as the \
         worker's uid, or add CAP_SYS_PTRACE with --profile=general; see docs/FLEET.md)"
    )]
    Namespace {
        /// The target.
        pid: u32,
        /// Why.
        reason: String,
    },
    /// The target exited.
    #[error("process {pid} exited")]
    Exited {
        /// The target.
        pid: u32,
    },
    /// The process lives, but the agent thread that was checked has ended.
    #[error(
        "the agent thread of process {pid} ended before it was signalled (its agent \
         stopped or restarted); attach again"
    )]
    AgentThreadEnded {
        /// The target.
        pid: u32,
    },
    /// The agent ended the session.
    #[error("the agent closed the session ({reason}); attach again to start a new one")]
    Closed {
        /// Why.
        reason: String,
    },
    /// Client and agent speak different protocol versions.
    #[error("{0}")]
    Version(String),
    /// The agent sent something that is not a valid reply.
    #[error(
        "the agent sent something that is not a valid reply ({0}); \
         is the agent the same version as attach?"
    )]
    BadReply(String),
    /// `ConnectOptions::interrupt` was raised.
    #[error("interrupted")]
    Interrupted,
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        #[source]
        /// The system error.
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
