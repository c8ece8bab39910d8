//! The interactive shell: a rustyline prompt over one session.
//!
//! Ctrl-C cancels the current line (or stops waiting for a running command), Ctrl-D
//! or `exit` leaves; leaving drops the session, which removes its FIFOs.

use std::process::ExitCode;

use anyhow::Context;
use attach_cli::{interrupt, render, split_print, ConnectError, Session};
use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

pub fn run(session: &mut Session) -> anyhow::Result<ExitCode> {
    let mut editor = DefaultEditor::new().context("cannot start the line editor")?;
    let target = session.target().clone();
    let prompt = format!("attach {} ({})> ", target.pid, target.name);
    println!(
        "attached to pid {} ({}), session {}, agent {}. `help()` lists what is here; `p <expr>` prints; Ctrl-D leaves.",
        target.pid,
        target.name,
        session.session_id(),
        session.agent_version()
    );
    loop {
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(ExitCode::SUCCESS),
            Err(err) => return Err(err).context("cannot read the terminal"),
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let _ = editor.add_history_entry(line);
        if matches!(line, "exit" | "quit") {
            return Ok(ExitCode::SUCCESS);
        }
        let (code, show_unit) = split_print(line);
        interrupt::clear();
        match session.eval(code) {
            Ok(outcome) => {
                render::print_outcome(code, &outcome, show_unit);
            }
            Err(ConnectError::Interrupted) => {
                interrupt::clear();
                eprintln!("stopped waiting; the agent ends the command at its time limit");
            }
            Err(err @ ConnectError::Timeout { .. }) => eprintln!("{err}"),
            Err(err) => return Err(err.into()),
        }
    }
}
