//! Which budget ran out, and the message that names the limit to raise. It travels
//! through Rhai as the payload of an uncatchable error, so `try`/`catch` cannot hide it.
//!
//! Never from here: a message without the way out (the limit to raise or what to do).

use std::fmt;
use std::time::Duration;

use rhai::{Dynamic, EvalAltResult, Position};

use crate::budget::units::{Bytes, Span};

/// Which budget ran out. Its message names the limit to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    Time {
        timeout: Duration,
    },
    Command {
        limit: usize,
    },
    Session {
        limit: usize,
    },
    Resident {
        limit: usize,
    },
    /// `this` of `bytes` read whole: copied where no callback can count it.
    ThisCopy {
        bytes: usize,
    },
    /// A function pointer carrying `bytes` of curried values, copied at every call.
    CurriedCopy {
        bytes: usize,
    },
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Time { timeout } => write!(
                f,
                "stopped: the command's time limit (Limits::command_timeout = {}) ran out; ask for less (take(n), a slice, a key) or raise the limit",
                Span(*timeout)
            ),
            Exceeded::Command { limit } => write!(
                f,
                "stopped: the command's memory budget (Limits::max_command_bytes = {}) ran out; build less (take(n), a slice, a key) or raise the limit",
                Bytes(*limit)
            ),
            Exceeded::Session { limit } => write!(
                f,
                "stopped: the session's memory budget (Limits::max_session_bytes = {}) ran out; drop variables you no longer need (`x = ()`) or attach again",
                Bytes(*limit)
            ),
            Exceeded::Resident { limit } => write!(
                f,
                "stopped: the worker's resident memory grew past the command's memory budget (Limits::max_command_bytes = {}) while it ran (the host's own allocations count here too); build less or raise the limit",
                Bytes(*limit)
            ),
            Exceeded::ThisCopy { bytes } => write!(
                f,
                "stopped: a function here reads `this` whole, which would copy its receiver ({}) where the memory budget cannot count it; pass the value as an argument (`f(v)`) or read its parts (`this.x`)",
                Bytes(*bytes)
            ),
            Exceeded::CurriedCopy { bytes } => write!(
                f,
                "stopped: this function pointer carries {} of curried values, copied again at every call where the memory budget cannot count them; pass them as arguments instead",
                Bytes(*bytes)
            ),
        }
    }
}

impl Exceeded {
    /// The `Exceeded` a Rhai error carries, if it is one of ours.
    pub(crate) fn from_token(token: &Dynamic) -> Option<Exceeded> {
        token.clone().try_cast::<Exceeded>()
    }
}

/// An uncatchable Rhai error (`try`/`catch` cannot hide it) carrying the `Exceeded`.
impl From<Exceeded> for Box<EvalAltResult> {
    fn from(exceeded: Exceeded) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(exceeded),
            Position::NONE,
        ))
    }
}
