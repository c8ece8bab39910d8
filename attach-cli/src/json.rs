//! `--json`: one JSON document per result, one per line. The schema is documented in
//! `docs/CLI.md`; fields are only ever added, never renamed or removed. Documents
//! are exact: controls inside strings are JSON escapes (`escape::json`), never raw.

use attach_cli::Outcome;
use serde_json::{json, Value};

use crate::discover::AgentProcess;
use crate::escape;
use crate::output::{self, OutputClosed};

/// The result of evaluating `command` in `pid`.
pub fn outcome(pid: u32, command: &str, outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Value {
            value,
            output,
            elapsed_us,
        } => json!({
            "pid": pid,
            "command": command,
            "ok": true,
            "value": value,
            "output": output,
            "elapsed_us": elapsed_us,
        }),
        Outcome::Failed {
            kind,
            message,
            line,
            column,
        } => json!({
            "pid": pid,
            "command": command,
            "ok": false,
            "error": {"kind": kind, "message": message, "line": line, "column": column},
        }),
    }
}

/// A failure to reach `pid` (or to resolve the target at all, without a pid).
pub fn connect_error(pid: Option<u32>, message: &str) -> Value {
    json!({
        "pid": pid,
        "ok": false,
        "error": {"kind": "connect", "message": message},
    })
}

/// One attachable process, as `--list` shows it.
pub fn process(process: &AgentProcess) -> Value {
    serde_json::to_value(process).unwrap_or(Value::Null)
}

/// A document on one line, with no raw control character in it, stamped with the
/// version and wire protocol of the attach that made it (`attach_version`,
/// `attach_protocol`; a stamp already there, from a remote attach, is kept) so that a
/// caller on another host can tell when the two sides differ.
pub fn line(document: &Value) -> String {
    let mut document = document.clone();
    if let Some(fields) = document.as_object_mut() {
        fields
            .entry("attach_version")
            .or_insert(env!("CARGO_PKG_VERSION").into());
        fields
            .entry("attach_protocol")
            .or_insert(attach_protocol::PROTOCOL_VERSION.into());
    }
    escape::json(&document.to_string()).into_owned()
}

/// Prints a document on one line of stdout.
pub fn print(document: &Value) -> Result<(), OutputClosed> {
    output::line(&line(document))
}
