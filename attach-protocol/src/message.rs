//! Message types. One JSON object per line; `op` tags requests, `type` tags replies.
//!
//! Unknown fields are ignored so that a newer peer may add optional ones; anything
//! incompatible bumps `PROTOCOL_VERSION`. Every request after `hello` that carries an `id` gets exactly one reply with the
//! same `id`, so a client can match answers even after a timeout on its side.

use serde::{Deserialize, Serialize};

/// Client to agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// First line of every session. `token` names the reply FIFO (see `paths`).
    Hello {
        v: u32,
        token: String,
        client_pid: u32,
    },
    /// Evaluate `code` in the session's persistent scope.
    Eval { id: u64, code: String },
    /// Keep an idle session alive; answered with `pong`.
    Ping { id: u64 },
    /// Completion candidates for `line` with the cursor at byte `pos`; answered
    /// with `completions`.
    Complete { id: u64, line: String, pos: usize },
    /// The session's variables and their values; answered with `value` (a map).
    Vars { id: u64 },
    /// End the session; the agent answers `bye` and closes the reply FIFO.
    Bye,
}

/// Agent to client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Answer to `hello`: the session is open.
    Welcome {
        v: u32,
        token: String,
        session: String,
        pid: u32,
        process: String,
        agent_version: String,
    },
    /// Successful evaluation. `value` is the result as JSON (`null` for unit);
    /// `output` holds what the script printed with `print`/`debug`.
    Value {
        id: u64,
        value: serde_json::Value,
        elapsed_us: u64,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        output: Vec<String>,
    },
    /// Answer to `ping`.
    Pong { id: u64 },
    /// Answer to `complete`: replace `line[start..pos]` with one of `candidates`.
    Completions {
        id: u64,
        start: usize,
        candidates: Vec<String>,
    },
    /// A request failed. `id` is absent when the request could not be parsed.
    Error {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        id: Option<u64>,
        kind: ErrorKind,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        line: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        column: Option<usize>,
    },
    /// The agent is ending the session (answer to `bye`, idle timeout, shutdown).
    Bye { reason: String },
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
    /// The line was not a valid request (bad JSON, unknown op, too long...).
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
