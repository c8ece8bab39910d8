//! Colour and paging for a person at a terminal, and nothing for anyone else.
//!
//! Colour only when the stream is a terminal, `NO_COLOR` is unset and `TERM` is not
//! `dumb`. Long output goes through a pager only when stdout is a terminal and the
//! text does not fit its height. Painted text is escaped first (`escape`), so the
//! only control sequences on the way out are the colours added here.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use crate::escape;
use crate::output::{self, OutputClosed};

/// Whether to paint a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn plain() -> Style {
        Style { color: false }
    }

    pub fn for_stdout() -> Style {
        Style::detect(std::io::stdout().is_terminal())
    }

    pub fn for_stderr() -> Style {
        Style::detect(std::io::stderr().is_terminal())
    }

    fn detect(terminal: bool) -> Style {
        let allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var("TERM").map_or(true, |term| term != "dumb");
        Style {
            color: terminal && allowed,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        let text = escape::text(text);
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.into_owned()
        }
    }

    pub fn error(self, text: &str) -> String {
        self.paint("1;31", text)
    }

    pub fn heading(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// The terminal's rows, if stdout is one.
pub fn terminal_rows() -> Option<usize> {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives on this stack.
    let ok =
        unsafe { nix::libc::ioctl(nix::libc::STDOUT_FILENO, nix::libc::TIOCGWINSZ, &mut size) }
            == 0;
    (ok && size.ws_row > 0).then_some(size.ws_row as usize)
}

/// Prints `text` (plus a newline) on stdout, through `$PAGER` (default `less -FRX`)
/// when it is taller than the terminal.
pub fn print_paged(text: &str) -> Result<(), OutputClosed> {
    let too_tall = std::io::stdout().is_terminal()
        && terminal_rows().is_some_and(|rows| text.lines().count() + 1 >= rows);
    if too_tall && page(text).is_ok() {
        return Ok(());
    }
    output::line(text)
}

fn page(text: &str) -> std::io::Result<()> {
    let pager = std::env::var("PAGER").unwrap_or_else(|_| "less -FRX".to_owned());
    let mut words = pager.split_whitespace();
    let program = words.next().unwrap_or("less");
    let mut child = Command::new(program)
        .args(words)
        .stdin(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        // The reader may quit early (q in less): a broken pipe is fine.
        let _ = writeln!(input, "{text}");
    }
    child.wait().map(|_| ())
}
