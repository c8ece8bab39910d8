//! Message types. One JSON object per line; `op` tags requests, `type` tags replies.
//!
//! Unknown fields are ignored so that a newer peer may add optional ones; anything
//! incompatible bumps `PROTOCOL_VERSION`. Every request after `hello` gets exactly one
//! reply, in order. It carries the request's `id`, except an `error` about a line
//! that did not parse (its `id` is unknown): a client that sent one request at a
//! time takes an `error` without `id` as the answer to it.

use serde::{Deserialize, Serialize};

/// Client to agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// First line of every session. `token` names the reply FIFO (see `paths`).
    Hello {
        /// The client's `PROTOCOL_VERSION`.
        v: u32,
        /// 32 lowercase hex digits; the reply FIFO is `/tmp/<pid>.<token>.reply`.
        token: String,
        /// The client's pid, for the audit log only (it is not trusted).
        client_pid: u32,
    },
    /// Evaluate `code` in the session's persistent scope.
    Eval {
        /// Echoed in the reply.
        id: u64,
        /// A Rhai script.
        code: String,
    },
    /// Keep an idle session alive; answered with `pong`.
    Ping {
        /// Echoed in the reply.
        id: u64,
    },
    /// Completion candidates for `line` with the cursor at byte `pos`; answered
    /// with `completions`.
    Complete {
        /// Echoed in the reply.
        id: u64,
        /// The line being edited.
        line: String,
        /// The cursor, a byte offset into `line`.
        pos: usize,
    },
    /// The session's variables and their values; answered with `value` (a map).
    Vars {
        /// Echoed in the reply.
        id: u64,
    },
    /// End the session; the agent answers `bye` and the session is over.
    Bye,
}

/// Agent to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to `hello`: the session is open.
    Welcome {
        /// The agent's `PROTOCOL_VERSION`.
        v: u32,
        /// The token from `hello`, echoed.
        token: String,
        /// The session's name in the agent's audit log.
        session: String,
        /// The target's pid as it sees itself (its namespace's pid).
        pid: u32,
        /// The target's process name.
        process: String,
        /// The server-agent version.
        agent_version: String,
    },
    /// Successful evaluation. `value` is the result as JSON (`null` for unit);
    /// `output` holds what the script printed with `print`/`debug`.
    Value {
        /// The request's id.
        id: u64,
        /// The result.
        value: serde_json::Value,
        /// Evaluation time in microseconds.
        elapsed_us: u64,
        /// Printed lines, in order (absent when none).
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        output: Vec<String>,
    },
    /// Answer to `ping`.
    Pong {
        /// The request's id.
        id: u64,
    },
    /// Answer to `complete`: replace `line[start..pos]` with one of `candidates`.
    Completions {
        /// The request's id.
        id: u64,
        /// Byte offset where the completed word starts.
        start: usize,
        /// Possible replacements, sorted.
        candidates: Vec<String>,
    },
    /// A request failed, or the session could not open. `id` is absent when it is
    /// unknown: the line did not parse, or the error answers `hello`.
    Error {
        /// The request's id, when known.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        id: Option<u64>,
        /// What kind of failure.
        kind: ErrorKind,
        /// What happened and what to do next, for a person.
        message: String,
        /// Source line of a script error (1-based).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        line: Option<usize>,
        /// Source column of a script error (1-based).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        column: Option<usize>,
    },
    /// The agent is ending the session: the answer to `bye`, or an idle timeout.
    Bye {
        /// Why, for a person.
        reason: String,
    },
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The script does not parse.
    Syntax,
    /// The script parsed but failed while running.
    Runtime,
    /// The script hit a limit: time, operations, call depth or data size.
    Limit,
    /// A registered function or getter panicked; the host is unaffected.
    Panic,
    /// Registered state stayed locked by the host for longer than the command may wait.
    Busy,
    /// The line was not a valid request (bad JSON, unknown op, too long, a bad
    /// `hello`...).
    Protocol,
    /// Client and agent speak different protocol versions.
    Version,
}

impl Reply {
    /// Shorthand for an error reply without a source position.
    pub fn error(id: Option<u64>, kind: ErrorKind, message: impl Into<String>) -> Reply {
        Reply::Error {
            id,
            kind,
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_use_op_tag() {
        let line = serde_json::to_string(&Request::Eval {
            id: 7,
            code: "1+1".into(),
        })
        .unwrap();
        assert_eq!(line, r#"{"op":"eval","id":7,"code":"1+1"}"#);
    }

    #[test]
    fn error_reply_omits_missing_position() {
        let line = serde_json::to_string(&Reply::error(None, ErrorKind::Protocol, "x")).unwrap();
        assert_eq!(line, r#"{"type":"error","kind":"protocol","message":"x"}"#);
    }

    #[test]
    fn unknown_fields_are_ignored_for_forward_compatibility() {
        let parsed: Request = serde_json::from_str(r#"{"op":"bye","later":1}"#).unwrap();
        assert_eq!(parsed, Request::Bye);
    }
}
