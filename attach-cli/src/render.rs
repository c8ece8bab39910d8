//! Turning replies into text for a person.

use attach_cli::Outcome;
use attach_protocol::ErrorKind;

use crate::escape;
use crate::output::{self, OutputClosed};
use crate::style::Style;

/// Columns that lead a table when present, in this order; the rest follow by name.
const LEADING_COLUMNS: &[&str] = &[
    "host", "pid", "tid", "fd", "name", "thread", "kind", "state", "label",
];

/// Cells wider than this are cut with an ellipsis.
const MAX_CELL: usize = 60;

/// The value as a person reads it: strings as text, unit as `()`, a list of flat maps
/// as a table, thread stacks as one block per thread, other containers as indented
/// JSON. Controls are escaped (`escape`).
pub fn value(value: &serde_json::Value) -> String {
    styled_value(value, Style::plain())
}

/// `value`, with a table's header in bold when `style` allows.
pub fn styled_value(value: &serde_json::Value, style: Style) -> String {
    match value {
        serde_json::Value::Null => "()".to_owned(),
        serde_json::Value::String(text) => escape::text(text).into_owned(),
        serde_json::Value::Array(rows) => styled_table(rows, style)
            .or_else(|| crate::stack_text::render(rows))
            .unwrap_or_else(|| pretty(value)),
        serde_json::Value::Object(_) => pretty(value),
        other => other.to_string(),
    }
}

fn pretty(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    escape::json(&text).into_owned()
}

/// A table for a non-empty list of maps whose values are all scalars.
pub fn table(rows: &[serde_json::Value]) -> Option<String> {
    styled_table(rows, Style::plain())
}

fn styled_table(rows: &[serde_json::Value], style: Style) -> Option<String> {
    let maps: Vec<&serde_json::Map<String, serde_json::Value>> = rows
        .iter()
        .map(|row| row.as_object())
        .collect::<Option<_>>()?;
    let flat = maps.iter().all(|map| {
        map.values()
            .all(|cell| !cell.is_array() && !cell.is_object())
    });
    if maps.is_empty() || !flat {
        return None;
    }
    let mut columns: Vec<&str> = Vec::new();
    for map in &maps {
        for key in map.keys() {
            if !columns.contains(&key.as_str()) {
                columns.push(key);
            }
        }
    }
    columns.sort_by_key(|column| {
        let rank = LEADING_COLUMNS.iter().position(|c| c == column);
        (rank.unwrap_or(LEADING_COLUMNS.len()), column.to_string())
    });
    let cells: Vec<Vec<String>> = maps
        .iter()
        .map(|map| {
            columns
                .iter()
                .map(|column| cell(map.get(*column)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([column.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |row: Vec<String>| {
        let padded: Vec<String> = row
            .into_iter()
            .zip(&widths)
            .map(|(text, width)| format!("{text:width$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let header = columns.iter().map(|c| escape::line(c).into_owned());
    let mut out = vec![style.heading(&line(header.collect()))];
    out.extend(cells.into_iter().map(line));
    Some(out.join("\n"))
}

fn cell(value: Option<&serde_json::Value>) -> String {
    let text = match value {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(text)) => escape::line(text).into_owned(),
        Some(other) => other.to_string(),
    };
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => "syntax error",
        ErrorKind::Runtime => "runtime error",
        ErrorKind::Limit => "limit reached",
        ErrorKind::Panic => "host code panicked",
        ErrorKind::Busy => "busy",
        ErrorKind::Protocol => "protocol error",
        ErrorKind::Version => "version mismatch",
    }
}

/// A failed command: kind, position and, when the code is known, a caret under the
/// column.
fn styled_failure(
    code: &str,
    kind: ErrorKind,
    message: &str,
    line: Option<usize>,
    column: Option<usize>,
    style: Style,
) -> String {
    let kind = style.error(kind_name(kind));
    let message = escape::text(message);
    let mut text = match (line, column) {
        (Some(line), Some(column)) => format!("{kind} at line {line}, column {column}: {message}"),
        (Some(line), None) => format!("{kind} at line {line}: {message}"),
        _ => format!("{kind}: {message}"),
    };
    if let (Some(line), Some(column)) = (line, column) {
        if let Some(source) = code.lines().nth(line.saturating_sub(1)) {
            text.push_str(&format!(
                "\n  {}\n  {}^",
                escape::line(source),
                " ".repeat(column.saturating_sub(1))
            ));
        }
    }
    text
}

/// An outcome in one table cell: the value on one line, or the error.
pub fn outcome_cell(outcome: &Outcome) -> String {
    let text = match outcome {
        Outcome::Value { value, .. } => match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Null => "()".to_owned(),
            other => other.to_string(),
        },
        Outcome::Failed { kind, message, .. } => format!("{}: {message}", kind_name(*kind)),
    };
    escape::line(&text).into_owned()
}

/// Prints an outcome: printed lines and the value on stdout, failures on stderr.
/// Returns false for a failure. Unit results are shown only when `show_unit`.
pub fn print_outcome(code: &str, outcome: &Outcome, show_unit: bool) -> Result<bool, OutputClosed> {
    print_outcome_with(code, outcome, show_unit, false)
}

/// `print_outcome`, through the pager when `paged` and the text is too tall.
pub fn print_outcome_with(
    code: &str,
    outcome: &Outcome,
    show_unit: bool,
    paged: bool,
) -> Result<bool, OutputClosed> {
    match outcome {
        Outcome::Value {
            value: result,
            output: printed,
            ..
        } => {
            let mut text: Vec<String> = printed
                .iter()
                .map(|line| escape::text(line).into_owned())
                .collect();
            if show_unit || !result.is_null() {
                text.push(styled_value(result, Style::for_stdout()));
            }
            if text.is_empty() {
                return Ok(true);
            }
            let text = text.join("\n");
            if paged {
                crate::style::print_paged(&text)?;
            } else {
                output::line(&text)?;
            }
            Ok(true)
        }
        Outcome::Failed {
            kind,
            message,
            line,
            column,
        } => {
            let style = Style::for_stderr();
            eprintln!(
                "{}",
                styled_failure(code, *kind, message, *line, *column, style)
            );
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        let text = styled_failure(
            "let = 5",
            ErrorKind::Syntax,
            "expecting a name",
            Some(1),
            Some(5),
            Style::plain(),
        );
        assert!(text.starts_with("syntax error at line 1, column 5"));
        assert!(text.ends_with("\n  let = 5\n      ^"));
    }

    #[test]
    fn lists_of_flat_maps_become_tables() {
        let rows = serde_json::json!([
            {"tid": 7, "name": "main", "cpu_ms": 12},
            {"tid": 8, "name": "attach-agent", "cpu_ms": 0, "extra": null}
        ]);
        assert_eq!(
            value(&rows),
            "tid  name          cpu_ms  extra\n7    main          12\n8    attach-agent  0"
        );
        let nested = serde_json::json!([{"frames": ["a"]}]);
        assert!(value(&nested).starts_with('['));
    }

    #[test]
    fn values_read_naturally() {
        assert_eq!(value(&serde_json::json!("hi")), "hi");
        assert_eq!(value(&serde_json::Value::Null), "()");
        assert_eq!(value(&serde_json::json!(42)), "42");
    }
}
