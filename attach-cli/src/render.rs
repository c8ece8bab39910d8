//! Turning replies into text for a person.

use attach_protocol::ErrorKind;

use crate::session::Outcome;

/// The value as a person reads it: strings raw, unit as `()`, containers indented.
pub fn value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "()".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
        }
        other => other.to_string(),
    }
}

/// A failed command: kind, position and, when the code is known, a caret under the
/// column.
pub fn failure(
    code: &str,
    kind: ErrorKind,
    message: &str,
    line: Option<usize>,
    column: Option<usize>,
) -> String {
    let kind = match kind {
        ErrorKind::Syntax => "syntax error",
        ErrorKind::Runtime => "runtime error",
        ErrorKind::Limit => "limit reached",
        ErrorKind::Panic => "host code panicked",
        ErrorKind::Busy => "busy",
        ErrorKind::Protocol => "protocol error",
        ErrorKind::Version => "version mismatch",
    };
    let mut text = match (line, column) {
        (Some(line), Some(column)) => format!("{kind} at line {line}, column {column}: {message}"),
        (Some(line), None) => format!("{kind} at line {line}: {message}"),
        _ => format!("{kind}: {message}"),
    };
    if let (Some(line), Some(column)) = (line, column) {
        if let Some(source) = code.lines().nth(line.saturating_sub(1)) {
            text.push_str(&format!(
                "\n  {source}\n  {}^",
                " ".repeat(column.saturating_sub(1))
            ));
        }
    }
    text
}

/// Prints an outcome: printed lines and the value on stdout, failures on stderr.
/// Returns false for a failure. Unit results are shown only when `show_unit`.
pub fn print_outcome(code: &str, outcome: &Outcome, show_unit: bool) -> bool {
    match outcome {
        Outcome::Value {
            value: result,
            output,
            ..
        } => {
            for line in output {
                println!("{line}");
            }
            if show_unit || !result.is_null() {
                println!("{}", value(result));
            }
            true
        }
        Outcome::Failed {
            kind,
            message,
            line,
            column,
        } => {
            eprintln!("{}", failure(code, *kind, message, *line, *column));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        let text = failure(
            "let = 5",
            ErrorKind::Syntax,
            "expecting a name",
            Some(1),
            Some(5),
        );
        assert!(text.starts_with("syntax error at line 1, column 5"));
        assert!(text.ends_with("\n  let = 5\n      ^"));
    }

    #[test]
    fn values_read_naturally() {
        assert_eq!(value(&serde_json::json!("hi")), "hi");
        assert_eq!(value(&serde_json::Value::Null), "()");
        assert_eq!(value(&serde_json::json!(42)), "42");
    }
}
