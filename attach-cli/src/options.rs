//! How to reach an agent: the deadline, the doorbell signal, and how to give up.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use attach_protocol::AgentMarker;
use nix::sys::signal::Signal;

/// How to reach the agent.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Deadline for the welcome and for each command's reply.
    pub timeout: Duration,
    /// The doorbell signal; `None` means the one the agent announces (see
    /// `attach_protocol::marker`), or SIGUSR1.
    pub signal: Option<Signal>,
    /// When this flag turns true (e.g. set by a Ctrl-C handler), a wait for the agent
    /// ends with `ConnectError::Interrupted`; the session still leaves cleanly.
    pub interrupt: Option<&'static AtomicBool>,
}

impl ConnectOptions {
    /// The signal to ring `pid` with.
    pub fn signal_for(&self, pid: u32) -> Signal {
        self.signal
            .or_else(|| AgentMarker::of_process(pid).and_then(|m| Signal::try_from(m.signal).ok()))
            .unwrap_or(Signal::SIGUSR1)
    }
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            timeout: Duration::from_secs(5),
            signal: None,
            interrupt: None,
        }
    }
}
