//! Turning what a transport run printed into JSON documents with a `host` field, and
//! those into table rows and an exit status.
//!
//! The remote side always runs `attach --json`, so a host's answer is its documents;
//! when there are none, the transport's exit status says why (127: no `attach` there,
//! 255 from ssh: host unreachable). Every failure becomes a document of its own, so
//! one bad host never hides the others. Text from the far side is escaped where it is
//! shown (`render`, `json`), never here.

use attach_cli::Outcome;

use crate::{render, status};
use attach_protocol::{ErrorKind, PROTOCOL_VERSION};
use serde_json::{json, Value};

use super::child::{End, Finished};
use super::transport::Transport;

/// How the far side is reached, for messages.
pub struct Reach<'a> {
    pub transport: &'a Transport,
    /// The attach program run there.
    pub remote: &'a str,
}

/// The documents `host` answered with, each carrying `host`.
pub fn documents(host: &str, finished: &Finished, reach: &Reach, listing: bool) -> Vec<Value> {
    let mut documents = Vec::new();
    for line in finished
        .stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
    {
        documents.push(match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(mut fields)) => {
                fields.insert("host".into(), host.into());
                Value::Object(fields)
            }
            _ => failure(
                host,
                &format!(
                    "{} printed something that is not attach's JSON: {:?}; is it the attach binary?",
                    reach.remote, line
                ),
            ),
        });
    }
    let name = reach.transport.name();
    let why = match &finished.end {
        End::NotStarted(err) => Some(format!(
            "cannot run {name:?} here: {err}; install it or fix the transport"
        )),
        End::TimedOut(after) => Some(format!(
            "no answer within {}s, so {name} was stopped; check the host or raise --host-timeout",
            after.as_secs_f64()
        )),
        End::Interrupted => Some("interrupted".to_owned()),
        End::Exited(status) if documents.is_empty() => match status.code() {
            Some(0) if listing => None,
            Some(0) => Some(format!("{} printed nothing", reach.remote)),
            Some(127) => Some(format!(
                "{:?} is not installed there (exit 127 through {name}): install attach on the host or in the image, or name it with --remote-attach PATH{}",
                reach.remote,
                last_line(&finished.stderr)
            )),
            Some(126) => Some(format!(
                "{:?} cannot be run there (exit 126 through {name}): check its permissions{}",
                reach.remote,
                last_line(&finished.stderr)
            )),
            Some(255) if reach.transport.is_ssh() => Some(format!(
                "ssh cannot reach it (exit 255){}",
                last_line(&finished.stderr)
            )),
            Some(code) => Some(format!(
                "{name} failed (exit {code}){}",
                last_line(&finished.stderr)
            )),
            None => Some(format!("{name} was killed by a signal ({status})")),
        },
        End::Exited(_) => None,
    };
    documents.extend(why.map(|why| failure(host, &why)));
    documents
}

/// A document for a host that could not answer.
pub fn failure(host: &str, message: &str) -> Value {
    json!({
        "host": host,
        "pid": null,
        "ok": false,
        "error": {"kind": "transport", "message": message},
    })
}

/// The exit status a document calls for: 0 fine, 1 a command failed, 2 no answer.
pub fn severity(document: &Value) -> u8 {
    if document["ok"] != false {
        return status::OK;
    }
    match document["error"]["kind"].as_str() {
        Some("connect" | "transport") => status::NOT_CONNECTED,
        _ => status::COMMAND_FAILED,
    }
}

/// A host or process that could not be reached, in full: a line for stderr under the
/// table, whose cells are cut short.
pub fn explanation(document: &Value) -> Option<String> {
    if severity(document) != status::NOT_CONNECTED {
        return None;
    }
    let message = document["error"]["message"].as_str()?;
    let host = document["host"].as_str().unwrap_or("?");
    Some(match document["pid"].as_u64() {
        Some(pid) => format!("{host}, pid {pid}: {message}"),
        None => format!("{host}: {message}"),
    })
}

/// The remote attach's wire protocol when it differs from ours, as a warning.
pub fn protocol_note(document: &Value) -> Option<String> {
    if document["error"]["kind"] == "transport" {
        return None;
    }
    match document["attach_protocol"].as_u64() {
        Some(theirs) if theirs == u64::from(PROTOCOL_VERSION) => None,
        Some(theirs) => Some(format!(
            "remote attach speaks wire protocol v{theirs}, this one v{PROTOCOL_VERSION}"
        )),
        None => Some(format!(
            "remote attach does not say its wire protocol (older than this one, v{PROTOCOL_VERSION})"
        )),
    }
}

/// One table row: the host, the pid and the result (or, for `--list`, the process).
pub fn table_row(document: &Value) -> Value {
    let mut row = if document.get("ok").is_none() {
        let mut process = document.clone();
        if let Some(fields) = process.as_object_mut() {
            fields.retain(|key, _| !key.starts_with("attach_"));
        }
        process
    } else {
        json!({
            "host": document["host"],
            "pid": document["pid"],
            "result": result_cell(document),
        })
    };
    if let Some(note) = protocol_note(document) {
        row["note"] = note.into();
    }
    row
}

fn result_cell(document: &Value) -> String {
    let error = &document["error"];
    if document["ok"] == true {
        return render::outcome_cell(&Outcome::Value {
            value: document["value"].clone(),
            output: Vec::new(),
            elapsed_us: 0,
        });
    }
    let message = error["message"]
        .as_str()
        .unwrap_or("(no message)")
        .to_owned();
    match serde_json::from_value::<ErrorKind>(error["kind"].clone()) {
        Ok(kind) => render::outcome_cell(&Outcome::Failed {
            kind,
            message,
            line: None,
            column: None,
        }),
        Err(_) => format!("error: {message}"),
    }
}

/// `: <last stderr line>`, or nothing.
fn last_line(stderr: &str) -> String {
    stderr
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .map(|line| format!(": {}", line.trim()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_follow_the_exit_codes() {
        assert_eq!(severity(&json!({"ok": true})), 0);
        assert_eq!(severity(&json!({"pid": 1, "name": "w"})), 0);
        assert_eq!(
            severity(&json!({"ok": false, "error": {"kind": "runtime"}})),
            1
        );
        assert_eq!(
            severity(&json!({"ok": false, "error": {"kind": "connect"}})),
            2
        );
        assert_eq!(severity(&failure("h", "down")), 2);
    }

    #[test]
    fn rows_escape_what_the_remote_printed() {
        let document = json!({"host": "h", "pid": 1, "ok": true, "value": "a\u{1b}[2Jb",
            "attach_protocol": PROTOCOL_VERSION});
        let table = render::table(&[table_row(&document)]).unwrap();
        assert!(
            table.contains("a\\x1b[2Jb") && !table.contains('\u{1b}'),
            "{table}"
        );
        assert!(table_row(&document).get("note").is_none());
    }

    #[test]
    fn another_protocol_is_noted() {
        let document = json!({"host": "h", "pid": 1, "ok": true, "value": 1,
            "attach_protocol": PROTOCOL_VERSION + 1});
        assert!(table_row(&document)["note"]
            .as_str()
            .unwrap()
            .contains(&format!("v{}", PROTOCOL_VERSION + 1)));
    }
}
