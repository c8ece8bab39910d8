//! Text from a worker made safe to show: the one place that decides which characters
//! may reach a terminal.
//!
//! Values, labels, error messages, process names and user names are chosen by
//! whoever fed the worker (a remote HTTP client picks request paths) or by the
//! worker itself. Printed raw, ESC, CSI (0x9b) and OSC sequences would retitle the
//! terminal, move the cursor, rewrite what was shown or, on some terminals, answer
//! back into the input. So every C0 control, DEL, every C1 control and the Unicode
//! bidirectional overrides (which reorder what a reader sees) are shown as visible
//! escapes (`\x1b`, `\u{9b}`), always, whether or not stdout is a terminal: human
//! output that goes to a file or a pipe is read later with `cat` or `less -R`, and
//! the same input then gives the same bytes. `--json` is the exact form; its strings
//! use JSON's own `\u001b` escapes, which decode to the very same text.
//!
//! Backslashes are left alone (a literal `\x1b` in a value looks like an escaped
//! one); this module must never pass a control character through, nor touch the
//! colour codes `style` adds around text it has already escaped.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
fn is_control(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Marks that reorder the text around them (the "Trojan Source" characters).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Multi-line text: newlines and tabs stay, every other control is escaped.
pub fn text(text: &str) -> Cow<'_, str> {
    escape(text, |c| matches!(c, '\n' | '\t'))
}

/// One line (a table cell, a prompt, a title): newlines and tabs are escaped too.
pub fn line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Serialized JSON with every control that serde_json leaves raw (DEL, C1, bidi
/// marks) written as a `\uXXXX` escape. Such characters only occur inside JSON
/// strings, where the escape decodes to the same character: the document means
/// exactly what it meant, and holds no control byte.
pub fn json(document: &str) -> Cow<'_, str> {
    // serde_json escapes C0 inside strings, so a raw newline is layout.
    let raw = |c: char| is_control(c) && !c.is_ascii_whitespace();
    if !document.chars().any(raw) {
        return Cow::Borrowed(document);
    }
    let mut out = String::with_capacity(document.len() + 16);
    for c in document.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_control(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if keep(c) || !is_control(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "a\x1b]0;owned\x07b\x1b[2J\u{9b}31m\x7f\u{202e}z";

    #[test]
    fn controls_become_visible_escapes() {
        assert_eq!(
            line(HOSTILE),
            "a\\x1b]0;owned\\x07b\\x1b[2J\\u{9b}31m\\x7f\\u{202e}z"
        );
        assert_eq!(line("x\r\0"), "x\\r\\x00");
    }

    #[test]
    fn text_keeps_its_layout_and_a_line_does_not() {
        assert_eq!(text("one\n\ttwo\r"), "one\n\ttwo\\r");
        assert_eq!(line("one\n\ttwo"), "one\\n\\ttwo");
    }

    #[test]
    fn plain_text_is_not_copied() {
        assert!(matches!(text("héllo wörld ✓"), Cow::Borrowed(_)));
        assert!(matches!(json("{\"a\":\"\\u001b\"}"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_text_holds_no_control_and_escaping_again_changes_nothing() {
        for shown in [text(HOSTILE), line(HOSTILE)] {
            assert!(!shown.chars().any(|c| is_control(c) && c != '\n'));
            assert_eq!(text(&shown), shown);
        }
    }

    #[test]
    fn json_stays_the_same_document() {
        let value = serde_json::json!({ HOSTILE: [HOSTILE, "\n"] });
        let safe = json(&value.to_string()).into_owned();
        assert!(!safe.chars().any(is_control), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let safe = json(&pretty);
        assert!(safe.contains("[\n    \""), "the layout stays: {safe}");
        assert!(!safe.chars().any(|c| is_control(c) && c != '\n'), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
    }
}
