//! What `attach` does once its arguments are parsed: list, fan out, one-shot, piped
//! or interactive. Errors carry context for the user; exit codes are decided here.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{bail, Context};
use attach_cli::{ConnectError, ConnectOptions, Outcome, Session};
use nix::sys::signal::Signal;

use crate::discover::{self, AgentProcess};
use crate::fleet::Fleet;
use crate::input::InputLines;
use crate::liveness::ExitWatch;
use crate::output::{self, OutputClosed};
use crate::watch::Watch;
use crate::{fanout, interrupt, json, render, shell, status, Args};

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let options = connect_options(args.timeout, args.signal);
    if let Some(fleet) = Fleet::from_args(&args.fleet)? {
        return fleet.run(args);
    }
    if args.list {
        return list(args.json);
    }
    let target = args.target.as_deref().expect("clap requires a target");
    let uid = uid_for_names(args.uid)?;
    if let Some(expr) = &args.watch {
        let watch = Watch {
            expr,
            interval: args.interval,
            as_json: args.json,
        };
        return if args.all {
            watch.all(target, uid, &options)
        } else {
            let pid = resolve(target, uid)?;
            watch
                .one(pid, &options)
                .with_context(|| format!("cannot watch pid {pid}"))
        };
    }
    if args.all {
        let Some(line) = args.one_shot() else {
            bail!("--all needs a command: attach --all {target} -e '<expr>'");
        };
        return all(target, uid, &line, &options, args.json);
    }
    if let Some(line) = args.one_shot() {
        return one_shot(target, uid, &line, &options, args.json);
    }
    let pid = resolve(target, uid)?;
    let mut session =
        Session::connect(pid, &options).with_context(|| format!("cannot attach to pid {pid}"))?;
    if std::io::stdin().is_terminal() && !args.json {
        return shell::run(session);
    }
    piped(&mut session, args.json)
}

/// How to reach an agent: wait up to `timeout`, insist on `signal` as its doorbell
/// (if given), stop waiting on Ctrl-C, say notices on stderr.
pub fn connect_options(timeout: Duration, signal: Option<Signal>) -> ConnectOptions {
    ConnectOptions {
        timeout,
        signal,
        interrupt: Some(interrupt::flag()),
        notice: |notice| eprintln!("attach: {}", crate::escape::text(notice)),
    }
}

/// Runs `line` once in the worker `target` (a pid, or a name of `uid`'s) and prints
/// the answer.
pub fn one_shot(
    target: &str,
    uid: u32,
    line: &str,
    options: &ConnectOptions,
    as_json: bool,
) -> anyhow::Result<u8> {
    let pid = resolve(target, uid)?;
    let (code, show_unit) = split_print(line);
    let outcome = Session::one_shot(pid, options, code).map_err(|err| {
        let context = match err {
            ConnectError::Interrupted => format!(
                "stopped waiting for pid {pid} (a command already sent ends at the agent's \
                 time limit)"
            ),
            _ => format!("cannot attach to pid {pid}"),
        };
        anyhow::Error::new(err).context(context)
    })?;
    Ok(exit_for(show(pid, code, &outcome, show_unit, as_json)?))
}

/// Whose processes a name picks: `--uid`, else the caller's own. Only root may pick
/// another uid's.
pub fn uid_for_names(wanted: Option<u32>) -> anyhow::Result<u32> {
    let me = nix::unistd::geteuid().as_raw();
    match wanted {
        Some(uid) if me != 0 && uid != me => {
            bail!("only root may pick another user's processes (--uid {uid}); you are uid {me}")
        }
        Some(uid) => Ok(uid),
        None => Ok(me),
    }
}

/// A pid as given, or the one attachable process of `uid` with that name.
fn resolve(target: &str, uid: u32) -> anyhow::Result<u32> {
    if let Ok(pid) = target.parse() {
        return Ok(pid);
    }
    match discover::named(target, uid).as_slice() {
        [one] => Ok(one.pid),
        [] => bail!(
            "no attachable process of uid {uid} is named {target:?}; \
             `attach --list` shows the ones that run an agent{}",
            if nix::unistd::geteuid().is_root() {
                " (pick another uid with --uid)"
            } else {
                ""
            }
        ),
        several => bail!(
            "{} processes are named {target:?}; pick one by pid (or use --all):\n{}",
            several.len(),
            process_table(several)
        ),
    }
}

fn list(as_json: bool) -> anyhow::Result<u8> {
    let found = discover::list();
    if as_json {
        for process in &found {
            json::print(&json::process(process))?;
        }
    } else if found.is_empty() {
        eprintln!("no process here runs an attach agent (that you may attach to)");
    } else {
        output::line(&process_table(&found))?;
    }
    Ok(status::OK)
}

/// The `--list` table: the JSON rows, with the doorbell by name (`SIGUSR1`).
fn process_table(processes: &[AgentProcess]) -> String {
    let rows: Vec<serde_json::Value> = processes
        .iter()
        .map(|process| {
            let mut row = json::process(process);
            if let Ok(signal) = Signal::try_from(process.signal) {
                row["signal"] = signal.as_str().into();
            }
            row
        })
        .collect();
    render::table(&rows).unwrap_or_default()
}

fn all(
    name: &str,
    uid: u32,
    line: &str,
    options: &ConnectOptions,
    as_json: bool,
) -> anyhow::Result<u8> {
    let processes = discover::named(name, uid);
    if processes.is_empty() {
        bail!(
            "no attachable process of uid {uid} is named {name:?}; \
             `attach --list` shows the ones that run an agent"
        );
    }
    let (code, _) = split_print(line);
    let answers = fanout::run_all(processes, code, options);
    let mut worst = status::OK;
    let mut rows = Vec::new();
    for answer in &answers {
        let pid = answer.process.pid;
        let (document, cell) = match &answer.result {
            Ok(outcome) => {
                let ok = matches!(outcome, Outcome::Value { .. });
                worst = worst.max(if ok {
                    status::OK
                } else {
                    status::COMMAND_FAILED
                });
                (
                    json::outcome(pid, code, outcome),
                    render::outcome_cell(outcome),
                )
            }
            Err(err) => {
                worst = status::NOT_CONNECTED;
                (
                    json::connect_error(Some(pid), &err.to_string()),
                    format!("error: {err}"),
                )
            }
        };
        if as_json {
            json::print(&document)?;
        }
        rows.push(serde_json::json!({"pid": pid, "result": cell}));
    }
    if !as_json {
        output::line(&render::table(&rows).unwrap_or_default())?;
    }
    Ok(worst)
}

/// One session for all of stdin: every line is a command, results in order. A
/// worker that exits while we wait for the next line ends the session (status 2).
fn piped(session: &mut Session, as_json: bool) -> anyhow::Result<u8> {
    let mut all_ok = true;
    let pid = session.target().pid;
    let mut input = InputLines::new(ExitWatch::new(session.target()));
    while let Some(line) = input.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        let (code, show_unit) = split_print(&line);
        let outcome = session.eval(code)?;
        all_ok &= show(pid, code, &outcome, show_unit, as_json)?;
    }
    Ok(exit_for(all_ok))
}

/// Prints an outcome for a person or as JSON; false for a failed command.
fn show(
    pid: u32,
    code: &str,
    outcome: &Outcome,
    show_unit: bool,
    as_json: bool,
) -> Result<bool, OutputClosed> {
    if as_json {
        json::print(&json::outcome(pid, code, outcome))?;
        Ok(matches!(outcome, Outcome::Value { .. }))
    } else {
        render::print_outcome(code, outcome, show_unit)
    }
}

/// Splits the `p <expr>` shorthand: returns the code and whether to print even a
/// unit result.
pub fn split_print(line: &str) -> (&str, bool) {
    let line = line.trim();
    match line.strip_prefix("p ") {
        Some(expr) => (expr.trim(), true),
        None => (line, false),
    }
}

fn exit_for(ok: bool) -> u8 {
    if ok {
        status::OK
    } else {
        status::COMMAND_FAILED
    }
}
