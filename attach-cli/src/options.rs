//! How to reach an agent: the deadline, the doorbell signal, how to give up, and
//! where notices go.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use nix::sys::signal::Signal;

/// How to reach the agent.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Deadline for the welcome and for each command's reply.
    pub timeout: Duration,
    /// The doorbell the agent must announce (`ConnectError::OtherDoorbell` otherwise);
    /// `None` takes whichever it announces (see `attach_protocol::marker`). The
    /// doorbell rung is always the announced one.
    pub signal: Option<Signal>,
    /// When this flag turns true (e.g. set by a Ctrl-C handler), a wait for the agent
    /// ends with `ConnectError::Interrupted`; the session still leaves cleanly.
    pub interrupt: Option<&'static AtomicBool>,
    /// Told what the user should know about a session that still works (e.g. that
    /// a planted FIFO made it use the agent's private directory).
    pub notice: fn(&str),
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            timeout: Duration::from_secs(5),
            signal: None,
            interrupt: None,
            notice: |_| {},
        }
    }
}
