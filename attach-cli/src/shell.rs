//! The interactive shell: a rustyline prompt over one session.
//!
//! Tab completes against the live agent; an unclosed bracket continues on the next
//! line; history persists per user (lines starting with a space are not kept);
//! Ctrl-C cancels the line (or stops waiting for a slow command), Ctrl-D, `exit` or
//! `:quit` leaves, which drops the session and removes its FIFOs. Lines starting
//! with `:` are shell commands (`:help`). A worker that exits while the prompt
//! waits ends the shell within a second (status 2). Everything the worker or its
//! process name contributes is escaped (`escape`), the prompt included.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use attach_cli::{ConnectError, Outcome, Session};
use nix::sys::pthread::{pthread_kill, pthread_self};
use nix::sys::signal::Signal;
use rustyline::config::Config;
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::Editor;

use crate::history::History;
use crate::liveness::ExitWatch;
use crate::modes::split_print;
use crate::shell_helper::ShellHelper;
use crate::style::Style;
use crate::{escape, interrupt, json, output, render, status};

const SHELL_HELP: &str = "\
shell commands:
  :help     this list (`help()` lists what the worker exposes)
  :vars     the variables of this session
  :limits   the evaluation limits in force
  :json     toggle raw JSON output
  :time     toggle showing each command's round trip
  :quit     leave (also Ctrl-D or `exit`)
`p <expr>` prints a value; Tab completes; an open bracket continues the line.";

/// A slow command shows a spinner after this long.
const SPINNER_AFTER: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Toggles {
    json: bool,
    time: bool,
}

pub fn run(session: Session) -> anyhow::Result<u8> {
    let target = session.target().clone();
    output::line(&format!(
        "attached to pid {} ({}), session {}, agent {}. \
         `help()` lists what is here; `:help` the shell; Ctrl-D leaves.",
        target.pid,
        escape::line(&target.name),
        escape::line(session.session_id()),
        escape::line(session.agent_version())
    ))?;
    let alarm = ExitAlarm::start(ExitWatch::new(&target));
    let session = Rc::new(RefCell::new(session));
    session.borrow_mut().on_wait(Some(Box::new(spinner)));
    let config = Config::builder()
        .history_ignore_space(true)
        .auto_add_history(false)
        .max_history_size(10_000)
        .context("history size")?
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> =
        Editor::with_config(config).context("cannot start the line editor")?;
    editor.set_helper(Some(ShellHelper {
        session: session.clone(),
    }));
    // Kept open for the whole session: the editor reaches the file through its fd.
    let history = History::open();
    let history_path = history.as_ref().map(History::path);
    if let Some(path) = &history_path {
        let _ = editor.load_history(path);
    }
    let prompt = format!("attach {} ({})> ", target.pid, escape::line(&target.name));
    let mut toggles = Toggles::default();
    loop {
        let read = editor.readline(&prompt);
        if alarm.rang() {
            return Err(ConnectError::Exited { pid: target.pid }.into());
        }
        let line = match read {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(status::OK),
            Err(err) => return Err(err).context("cannot read the terminal"),
        };
        let command = line.trim();
        if command.is_empty() {
            continue;
        }
        if editor.add_history_entry(line.as_str()).unwrap_or(false) {
            if let Some(path) = &history_path {
                let _ = editor.append_history(path);
            }
        }
        if matches!(command, "exit" | "quit" | ":quit" | ":q") {
            return Ok(status::OK);
        }
        let mut session = session.borrow_mut();
        match shell_command(command, &mut session, &mut toggles) {
            Some(result) => result?,
            None => evaluate(command, &mut session, &toggles)?,
        }
    }
}

/// Runs a `:` command; None if `command` is not one.
fn shell_command(
    command: &str,
    session: &mut Session,
    toggles: &mut Toggles,
) -> Option<anyhow::Result<()>> {
    let result = match command {
        ":help" | ":h" => output::line(SHELL_HELP).map_err(anyhow::Error::from),
        ":vars" => match session.vars() {
            Ok(outcome) => show(":vars", &outcome, false, toggles, session.target().pid),
            Err(err) => Err(err.into()),
        },
        ":limits" => return Some(evaluate("limits()", session, toggles)),
        ":json" => flip("raw JSON output", &mut toggles.json),
        ":time" => flip("round-trip times", &mut toggles.time),
        other if other.starts_with(':') => {
            eprintln!(
                "unknown shell command {}; :help lists them",
                escape::line(other)
            );
            Ok(())
        }
        _ => return None,
    };
    Some(result)
}

/// Evaluates one line; only a broken session is an error.
fn evaluate(line: &str, session: &mut Session, toggles: &Toggles) -> anyhow::Result<()> {
    let (code, show_unit) = split_print(line);
    interrupt::clear();
    let started = Instant::now();
    let result = session.eval(code);
    clear_spinner(started.elapsed());
    match result {
        Ok(outcome) => {
            show(code, &outcome, show_unit, toggles, session.target().pid)?;
            if toggles.time {
                let agent_us = match outcome {
                    Outcome::Value { elapsed_us, .. } => format!(", {elapsed_us} µs in the agent"),
                    Outcome::Failed { .. } => String::new(),
                };
                let round_trip = started.elapsed().as_secs_f64() * 1000.0;
                eprintln!(
                    "{}",
                    Style::for_stderr().dim(&format!("round trip {round_trip:.2} ms{agent_us}"))
                );
            }
            Ok(())
        }
        Err(ConnectError::Interrupted) if !session.target().is_alive() => {
            Err(ConnectError::Exited {
                pid: session.target().pid,
            }
            .into())
        }
        Err(ConnectError::Interrupted) => {
            interrupt::clear();
            eprintln!(
                "stopped waiting; the agent ends the command at its time limit, \
                 the session goes on"
            );
            Ok(())
        }
        Err(err @ ConnectError::Timeout { .. }) => {
            eprintln!("{}", escape::text(&err.to_string()));
            Ok(())
        }
        Err(err) => Err(err.into()),
    }
}

/// Prints an outcome as raw JSON (`:json`) or for a person, paged when tall.
fn show(
    code: &str,
    outcome: &Outcome,
    show_unit: bool,
    toggles: &Toggles,
    pid: u32,
) -> anyhow::Result<()> {
    if toggles.json {
        json::print(&json::outcome(pid, code, outcome))?;
    } else {
        render::print_outcome_with(code, outcome, show_unit, true)?;
    }
    Ok(())
}

/// Toggles a shell setting and says its new state.
fn flip(what: &str, setting: &mut bool) -> anyhow::Result<()> {
    *setting = !*setting;
    output::line(&format!("{what} {}", if *setting { "on" } else { "off" }))?;
    Ok(())
}

/// Ends a pending prompt when the worker exits. A watcher thread waits on the
/// target (`ExitWatch`); then it sends SIGINT to the shell's thread, which makes
/// the line editor give up its read (as Ctrl-C would) and restore the terminal, and
/// the shell sees `rang`. The signal is repeated until the process ends, in case
/// one lands just before the editor starts its read.
struct ExitAlarm {
    rang: Arc<AtomicBool>,
}

impl ExitAlarm {
    fn start(watch: ExitWatch) -> ExitAlarm {
        let rang = Arc::new(AtomicBool::new(false));
        let shell_thread = pthread_self();
        let ring = rang.clone();
        let watcher = std::thread::Builder::new()
            .name("attach-exit-watch".into())
            .spawn(move || {
                watch.wait_for_exit();
                ring.store(true, Ordering::SeqCst);
                while pthread_kill(shell_thread, Signal::SIGINT).is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        if watcher.is_err() {
            eprintln!("attach: cannot watch the worker; its exit shows at the next command");
        }
        ExitAlarm { rang }
    }

    fn rang(&self) -> bool {
        self.rang.load(Ordering::SeqCst)
    }
}

/// Draws a spinner on stderr once a command has taken longer than `SPINNER_AFTER`.
fn spinner(waited: Duration) {
    const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
    if waited < SPINNER_AFTER {
        return;
    }
    let frame = FRAMES[(waited.as_millis() / 100) as usize % FRAMES.len()];
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "\r{frame} waiting {:.1}s (Ctrl-C stops waiting)",
        waited.as_secs_f64()
    );
    let _ = stderr.flush();
}

fn clear_spinner(waited: Duration) {
    if waited >= SPINNER_AFTER {
        eprint!("\r\x1b[K");
    }
}
