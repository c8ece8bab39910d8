//! The client side of attach: find the target, open a session, evaluate commands.
//!
//! The binary (`main.rs`) adds argument parsing and the interactive shell on top.
//! This library never prints except through `render`, `json` and `output`, never
//! shows a worker's text unescaped (`escape`), and never signals a process
//! that has not proven (via `/proc/<pid>/status`) that it catches the doorbell.

mod claim;
pub mod discover;
pub mod error;
pub mod escape;
pub mod fanout;
pub mod interrupt;
pub mod json;
pub mod options;
pub mod output;
pub mod render;
pub mod session;
pub mod style;
pub mod target;

pub use error::ConnectError;
pub use options::ConnectOptions;
pub use session::{Outcome, Session};
pub use target::Target;

/// Splits the `p <expr>` shorthand: returns the code and whether to print even a
/// unit result.
pub fn split_print(line: &str) -> (&str, bool) {
    let line = line.trim();
    match line.strip_prefix("p ") {
        Some(expr) => (expr.trim(), true),
        None => (line, false),
    }
}
