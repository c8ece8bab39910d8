//! What one command came to: its value (with what it printed), or why it failed.

use attach_protocol::{ErrorKind, Reply};

/// The answer to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The command ran.
    Value {
        /// Its result (`null` for unit).
        value: serde_json::Value,
        /// What it printed, line by line.
        output: Vec<String>,
        /// How long it ran in the agent, in microseconds.
        elapsed_us: u64,
    },
    /// The command failed; the session goes on.
    Failed {
        /// What kind of failure.
        kind: ErrorKind,
        /// What happened, for a person.
        message: String,
        /// Source line of a script error.
        line: Option<usize>,
        /// Source column of a script error.
        column: Option<usize>,
    },
}

impl Outcome {
    /// The outcome a reply carries, or the reply itself if it is not an answer.
    pub(crate) fn from_reply(reply: Reply) -> Result<Outcome, Reply> {
        match reply {
            Reply::Value {
                value,
                output,
                elapsed_us,
                ..
            } => Ok(Outcome::Value {
                value,
                output,
                elapsed_us,
            }),
            Reply::Error {
                kind,
                message,
                line,
                column,
                ..
            } => Ok(Outcome::Failed {
                kind,
                message,
                line,
                column,
            }),
            other => Err(other),
        }
    }
}
