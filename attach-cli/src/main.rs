//! `attach`: the command line. Parses arguments, picks a mode (one-shot, piped,
//! interactive) and maps failures to exit codes: 0 ok, 1 a command failed,
//! 2 could not connect or the session broke, 130 interrupted.

mod shell;

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use attach_cli::{interrupt, render, split_print, ConnectError, ConnectOptions, Session};
use clap::Parser;
use nix::sys::signal::Signal;

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (wire protocol v1)");

const EXAMPLES: &str = "\
Examples:
  attach 4242                          interactive shell inside pid 4242
  attach 4242 p requests_served        print one value and exit
  attach 4242 -e 'help()'              same, any expression
  printf 'let x = 40\\nx + 2\\n' | attach 4242
                                       one session, one result per line

Exit status: 0 ok, 1 a command failed, 2 could not connect or the session
broke, 130 interrupted.";

/// Open a live REPL inside a running worker that embeds server-agent.
#[derive(Parser, Debug)]
#[command(name = "attach", version = VERSION, after_help = EXAMPLES)]
struct Args {
    /// Process id of the worker.
    pid: u32,

    /// One-shot command: `p <expr>` or just `<expr>`; prints the value and exits.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,

    /// Evaluate EXPR, print its value and exit.
    #[arg(short, long, value_name = "EXPR", conflicts_with = "command")]
    eval: Option<String>,

    /// Seconds to wait for the agent (to connect, and for each command).
    #[arg(long, default_value = "5", value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Duration,

    /// The signal the worker's agent listens for.
    #[arg(long, default_value = "USR1", value_name = "SIGNAL", value_parser = parse_signal)]
    signal: Signal,
}

fn main() -> ExitCode {
    let args = Args::parse();
    interrupt::install();
    match run(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("attach: {err:#}");
            match err.downcast_ref::<ConnectError>() {
                Some(ConnectError::Interrupted) => ExitCode::from(130),
                _ => ExitCode::from(2),
            }
        }
    }
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let options = ConnectOptions {
        timeout: args.timeout,
        signal: args.signal,
    };
    let one_shot = args
        .eval
        .clone()
        .or_else(|| (!args.command.is_empty()).then(|| args.command.join(" ")));
    let context = || format!("cannot attach to pid {}", args.pid);
    if let Some(line) = one_shot {
        let (code, show_unit) = split_print(&line);
        let outcome = Session::one_shot(args.pid, &options, code).with_context(context)?;
        return Ok(exit_for(render::print_outcome(code, &outcome, show_unit)));
    }
    let mut session = Session::connect(args.pid, &options).with_context(context)?;
    if std::io::stdin().is_terminal() {
        return shell::run(&mut session);
    }
    piped(&mut session)
}

/// One session for all of stdin: every line is a command, results in order.
fn piped(session: &mut Session) -> anyhow::Result<ExitCode> {
    let mut all_ok = true;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let (code, show_unit) = split_print(&line);
        let outcome = session.eval(code)?;
        all_ok &= render::print_outcome(code, &outcome, show_unit);
    }
    Ok(exit_for(all_ok))
}

fn exit_for(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a usable timeout"))
}

fn parse_signal(text: &str) -> Result<Signal, String> {
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| format!("`{text}` is not a signal name (try USR1 or USR2)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_protocol() {
        assert!(VERSION.ends_with(&format!(
            "(wire protocol v{})",
            attach_protocol::PROTOCOL_VERSION
        )));
    }

    #[test]
    fn signals_parse_with_or_without_prefix() {
        assert_eq!(parse_signal("usr2"), Ok(Signal::SIGUSR2));
        assert_eq!(parse_signal("SIGUSR1"), Ok(Signal::SIGUSR1));
        assert!(parse_signal("nope").is_err());
    }
}
