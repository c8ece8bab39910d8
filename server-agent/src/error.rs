//! Typed errors of the agent library. Hosts see these only from `install`.
//!
//! No type from a dependency appears here (system errors are `std::io::Error`), so
//! upgrading one is not a breaking change for hosts.

use crate::signal::choice::DoorbellSignal;

/// Why `install` did not start an agent. The host goes on without one.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The host already handles the doorbell signal; its handler was left in place.
    #[error(
        "{0} already has a handler in this process; the agent will not replace it. \
         Pick another doorbell with AgentBuilder::signal (and `attach --signal`)"
    )]
    SignalInUse(DoorbellSignal),
    /// The doorbell would be a signal that can hurt the host; clients refuse it too.
    #[error("{0} cannot be a doorbell: attach only rings SIGUSR1, SIGUSR2 or a real-time signal")]
    NotADoorbell(DoorbellSignal),
    /// `install` already succeeded in this process.
    #[error("the attach agent is already installed in this process")]
    /// `install` ran before in this process.
    AlreadyInstalled,
    /// A registered name (or a redaction) is unusable: empty, reserved, taken twice...
    #[error("cannot register {name:?}: {reason}")]
    BadName {
        /// The name the host tried to register.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A system call needed to set up the doorbell failed.
    #[error("cannot set up the agent: {0}")]
    Setup(#[source] std::io::Error),
    /// The agent thread could not be started.
    #[error("cannot start the agent thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl AgentError {
    pub(crate) fn setup(errno: nix::errno::Errno) -> AgentError {
        AgentError::Setup(errno.into())
    }
}
