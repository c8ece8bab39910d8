//! `stacks()` for a person: one block per thread, one line per frame.
//!
//! Only a value shaped like `stacks()` output (every row has `tid`, `name` and a
//! `frames` list) is drawn this way; anything else is left to the generic renderer.

use std::fmt::Write;

use serde_json::Value;

use crate::escape;

/// The text for `rows`, or `None` if they are not thread stacks.
pub fn render(rows: &[Value]) -> Option<String> {
    let is_stack =
        |row: &Value| row["tid"].is_u64() && row["name"].is_string() && row["frames"].is_array();
    if rows.is_empty() || !rows.iter().all(is_stack) {
        return None;
    }
    let mut out = String::new();
    for row in rows {
        let name = escape::line(row["name"].as_str()?);
        let _ = write!(out, "thread {} \"{name}\"", row["tid"]);
        if let Some(paused) = row["paused_us"].as_u64() {
            let _ = write!(out, " (paused {paused} µs)");
        }
        out.push('\n');
        let mut number = 0;
        for frame in row["frames"].as_array()? {
            out.push_str(&frame_line(number, frame));
            out.push('\n');
            if frame["inlined"] != true {
                number += 1;
            }
        }
    }
    Some(out.trim_end().to_owned())
}

/// `#3  0x55d0c8a1f2e0 function at file:line` (inlined frames carry no number); a
/// frame nothing names gives its place in its module: `?? in libc.so.6+0x881f5`.
fn frame_line(number: usize, frame: &Value) -> String {
    let function = escape::line(frame["function"].as_str().unwrap_or("??"));
    let mut line = if frame["inlined"] == true {
        format!("    {:20}(inlined) {function}", "")
    } else {
        let address = frame["address"].as_u64().unwrap_or(0);
        format!("  #{number:<3} {address:#018x}  {function}")
    };
    match (frame["file"].as_str(), frame["line"].as_u64()) {
        (Some(file), Some(at)) => {
            let _ = write!(line, " at {}:{at}", escape::line(file));
        }
        (Some(file), None) => {
            let _ = write!(line, " at {}", escape::line(file));
        }
        _ => match frame["module"].as_str() {
            Some(module) if !module.is_empty() => {
                let _ = write!(line, " in {}", escape::line(module));
                let offset = frame["offset"].as_u64().filter(|offset| *offset != 0);
                if let Some(offset) = offset.filter(|_| function == "??") {
                    let _ = write!(line, "+{offset:#x}");
                }
            }
            _ => {}
        },
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_block_per_thread_marks_inlined_frames_and_escapes_controls() {
        let rows = serde_json::json!([{
            "tid": 7, "name": "http-0", "paused_us": 120, "frames": [
                {"function": "syscall", "file": null, "line": null, "inlined": false,
                 "address": 4096, "module": "libc.so.6"},
                {"function": "futex_wait", "file": "futex.rs", "line": 73, "inlined": true,
                 "address": 8192, "module": "w"},
                {"function": "park", "file": "thread.rs", "line": 121, "inlined": false,
                 "address": 8192, "module": "w"},
                {"function": "??", "file": null, "line": null, "inlined": false,
                 "address": 12288, "module": "libc.so.6", "offset": 557557}
            ]
        }]);
        let text = render(rows.as_array().unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "thread 7 \"http-0\" (paused 120 µs)");
        assert_eq!(lines[1], "  #0   0x0000000000001000  syscall in libc.so.6");
        assert!(lines[2]
            .trim_start()
            .starts_with("(inlined) futex_wait at futex.rs:73"));
        assert_eq!(lines[3], "  #1   0x0000000000002000  park at thread.rs:121");
        assert_eq!(
            lines[4],
            "  #2   0x0000000000003000  ?? in libc.so.6+0x881f5"
        );
        assert_eq!(render(&[serde_json::json!({"tid": 1})]), None);
        let hostile = serde_json::json!([{"tid": 1, "name": "x\u{1b}]0;owned\u{7}", "frames": [
            {"function": "f\u{1b}[2J", "inlined": false, "address": 1, "module": "m"}]}]);
        let text = render(hostile.as_array().unwrap()).unwrap();
        assert!(!text.contains('\u{1b}'), "{text}");
    }
}
