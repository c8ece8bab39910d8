//! The line editor's helper: completion asked of the live agent, and multiline input
//! while brackets are open.

use std::cell::RefCell;
use std::rc::Rc;

use attach_cli::Session;
use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::escape;

pub struct ShellHelper {
    pub session: Rc<RefCell<Session>>,
}

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        // A completion that fails (agent busy, session gone) offers nothing; the
        // next command reports the problem properly. Candidates come from the
        // worker: one with a control character in it would be typed into the
        // terminal raw, and no one could type it back, so it is not offered.
        let (start, mut candidates) = self
            .session
            .borrow_mut()
            .complete(line, pos)
            .unwrap_or((pos, Vec::new()));
        candidates.retain(|candidate| escape::line(candidate) == candidate.as_str());
        Ok((start, candidates))
    }
}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if open_brackets(ctx.input()) > 0 {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Helper for ShellHelper {}

/// How many `{`, `(` and `[` are still open, outside strings and comments. A
/// negative count (too many closers) is left for the agent to report.
pub fn open_brackets(input: &str) -> i64 {
    let mut depth = 0i64;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' | '\'' => {
                while let Some(inner) = chars.next() {
                    match inner {
                        '\\' => {
                            chars.next();
                        }
                        end if end == c => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for inner in chars.by_ref() {
                    if inner == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for inner in chars.by_ref() {
                    if previous == '*' && inner == '/' {
                        break;
                    }
                    previous = inner;
                }
            }
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
    }
    depth
}

#[cfg(test)]
mod tests {
    use super::open_brackets;

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        assert_eq!(open_brackets("fn f(x) {"), 1);
        assert_eq!(open_brackets("fn f(x) { x }"), 0);
        assert_eq!(open_brackets("let s = \"{[(\"; // {"), 0);
        assert_eq!(open_brackets("[1, 2, /* ( */"), 1);
        assert_eq!(open_brackets("}"), -1);
    }
}
