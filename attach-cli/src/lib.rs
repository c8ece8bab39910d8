//! The client side of attach as a library: open a session with the agent inside a
//! worker, evaluate commands in it, leave.
//!
//! The `attach` binary (`main.rs` and the modules it declares) adds everything a
//! person sees: arguments, discovery, output and its escaping, history, the shell.
//! This library never writes to stdout or stderr (the caller's `notice` hears what a
//! person should know), and never signals a process that has not shown
//! (announcement, agent thread, `SigCgt`) that its agent catches the doorbell; it then
//! rings only that agent thread.

#![warn(missing_docs)]

mod claim;
mod error;
mod options;
mod outcome;
mod session;
mod target;

pub use error::ConnectError;
pub use options::ConnectOptions;
pub use outcome::Outcome;
pub use session::Session;
pub use target::Target;
