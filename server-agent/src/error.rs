//! Typed errors of the agent library. Hosts see these only from `install`.

use nix::sys::signal::Signal;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "{0} already has a handler in this process; the agent will not replace it. \
         Pick another doorbell with AgentBuilder::signal (and `attach --signal`)"
    )]
    SignalInUse(Signal),
    #[error("the attach agent is already installed in this process")]
    AlreadyInstalled,
    #[error("cannot register {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("cannot set up the agent: {0}")]
    Setup(#[source] nix::errno::Errno),
    #[error("cannot start the agent thread: {0}")]
    Thread(#[source] std::io::Error),
}
