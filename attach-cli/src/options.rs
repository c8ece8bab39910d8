//! How to reach an agent: the deadline and the doorbell signal.

use std::time::Duration;

use nix::sys::signal::Signal;

/// How to reach the agent.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Deadline for the welcome and for each command's reply.
    pub timeout: Duration,
    /// The doorbell signal; `None` means the one the agent announces (see
    /// `discover::marker`), or SIGUSR1.
    pub signal: Option<Signal>,
}

impl ConnectOptions {
    /// The signal to ring `pid` with.
    pub fn signal_for(&self, pid: u32) -> Signal {
        self.signal
            .or_else(|| crate::discover::marker(pid).and_then(|m| Signal::try_from(m.signal).ok()))
            .unwrap_or(Signal::SIGUSR1)
    }
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            timeout: Duration::from_secs(5),
            signal: None,
        }
    }
}
