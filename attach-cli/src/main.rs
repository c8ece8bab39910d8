//! `attach`: the command line. Parses arguments, picks a mode (list, fan-out,
//! one-shot, piped, interactive) and maps failures to exit codes: 0 ok, 1 a command
//! failed, 2 could not connect or the session broke, 130 interrupted, 141 stdout
//! closed by its reader (quietly, as a process stopped by SIGPIPE).
//!
//! The process starts at the C `main` below, not at a Rust `fn main`: `start` says why.

// The test harness brings its own `main`.
#![cfg_attr(not(test), no_main)]

mod discover;
mod escape;
mod fanout;
mod fleet;
mod history;
mod input;
mod interrupt;
mod json;
mod liveness;
mod modes;
mod output;
mod quick;
mod render;
mod shell;
mod shell_helper;
mod stack_text;
#[cfg(not(test))]
mod start;
mod status;
mod style;
mod watch;

use std::str::FromStr;
use std::time::Duration;

use attach_cli::ConnectError;
use clap::{CommandFactory, Parser};
use nix::sys::signal::Signal;

use crate::output::OutputClosed;

macro_rules! version {
    () => {
        concat!(env!("CARGO_PKG_VERSION"), " (wire protocol v1)")
    };
}
const VERSION: &str = version!();
/// What `attach --version` prints.
const VERSION_LINE: &str = concat!("attach ", version!(), "\n");

/// `--timeout` when none is given, in seconds.
const DEFAULT_TIMEOUT: &str = "5";

const EXAMPLES: &str = "\
Examples:
  attach 4242                          interactive shell inside pid 4242
  attach http-worker                   the same, by name (if only one has it)
  attach 4242 p requests_served        print one value and exit
  attach 4242 -e 'threads()'           any expression; lists of maps print as tables
  printf 'let x = 40\\nx + 2\\n' | attach 4242
                                       one session, one result per line
  attach --list                        every process that runs an agent
  attach --all http-worker -e 'mem().rss_kib'
                                       one expression on every worker named so
  attach 4242 --watch requests_served --interval 500ms
                                       redraw a value in place, with a sparkline
  attach 4242 --json -e 'inflight()'   machine-readable (see docs/CLI.md)
  attach --ssh web1,web2 --all http-worker -e 'mem().rss_kib'
                                       the same on other hosts, one table
  attach completions bash              shell completions (bash, zsh, fish)

Exit status: 0 ok, 1 a command failed, 2 could not connect or the session
broke, 130 interrupted, 141 stdout closed by its reader.";

/// `attach completions --help`.
const COMPLETIONS_HELP: &str = "\
Print a shell completion script for attach

Usage: attach completions <SHELL>

Arguments:
  <SHELL>  bash, zsh, fish, elvish or powershell

Install it, for example:
  attach completions bash > ~/.local/share/bash-completion/completions/attach
  attach completions zsh > ~/.zfunc/_attach       (with ~/.zfunc in $fpath)
  attach completions fish > ~/.config/fish/completions/attach.fish";

/// Open a live REPL inside a running worker that embeds server-agent.
#[derive(Parser, Debug)]
#[command(name = "attach", version = VERSION, after_help = EXAMPLES)]
pub struct Args {
    /// Process id of the worker, or its process name.
    #[arg(required_unless_present = "list")]
    target: Option<String>,

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

    /// List the processes that run an agent, and exit.
    #[arg(long, conflicts_with_all = ["target", "eval", "command", "all"])]
    list: bool,

    /// Run the command on every process named TARGET, in parallel.
    #[arg(long)]
    all: bool,

    /// Pick processes of this uid by name [default: your own uid; others need root].
    #[arg(long, value_name = "UID", conflicts_with = "list")]
    uid: Option<u32>,

    /// Re-evaluate EXPR every --interval and redraw it (numbers get a sparkline).
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["eval", "command", "list"])]
    watch: Option<String>,

    /// How often --watch re-evaluates: 1s, 500ms, 2m.
    #[arg(
        long,
        default_value = "1s",
        value_name = "INTERVAL",
        value_parser = watch::parse_interval,
        requires = "watch"
    )]
    interval: Duration,

    /// Print one JSON document per result (schema in docs/CLI.md).
    #[arg(long)]
    json: bool,

    /// Seconds to wait for the agent (to connect, and for each command).
    #[arg(long, default_value = DEFAULT_TIMEOUT, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Duration,

    /// Attach only if the worker's agent listens for this signal (USR1 or USR2); attach always rings the one the agent announces.
    #[arg(long, value_name = "SIGNAL", value_parser = parse_signal)]
    signal: Option<Signal>,

    #[command(flatten)]
    fleet: fleet::FleetArgs,
}

impl Args {
    /// The one-shot command, from `-e` or the trailing words.
    fn one_shot(&self) -> Option<String> {
        self.eval
            .clone()
            .or_else(|| (!self.command.is_empty()).then(|| self.command.join(" ")))
    }
}

/// Where the C runtime starts attach, with std's start-up done by `start`.
///
/// # Safety
/// Called by the C runtime only, with its `argc` and `argv`.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn main(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // SAFETY: the C runtime passes `argc` pointers to NUL-terminated strings that
    // live as long as the process; `argv[1]` is read only when `argc` is 2.
    let first = (argc == 2).then(|| unsafe { std::ffi::CStr::from_ptr(*argv.add(1)) });
    if first.is_some_and(|word| quick::is_version(word.to_bytes())) {
        return start::run(print_version);
    }
    start::run(run)
}

/// `attach --version`: one write of a constant line, with nothing else started (no
/// argument list, no allocation, no buffered stdout): scripts run it to see that
/// attach is there, and it is the start-up the benchmarks compare.
// Unit tests start at the harness's `main`, which never calls this.
#[cfg_attr(test, allow(dead_code))]
fn print_version() -> u8 {
    let printed = output::write_unbuffered(VERSION_LINE.as_bytes());
    exit_status(printed.map(|()| status::OK).map_err(Into::into), false)
}

/// What a Rust `fn main` would do: the exit status of the command line, with stdout
/// flushed.
#[cfg_attr(test, allow(dead_code))]
fn run() -> u8 {
    let code = run_command_line();
    // A reader that left is already reported by the status.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    code
}

#[cfg_attr(test, allow(dead_code))]
fn run_command_line() -> u8 {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("completions") {
        return exit_status(completions(argv.get(2).map(String::as_str)), false);
    }
    // The agent's stack helper (see attach_unwind::helper), not a user command.
    if let Some(code) = attach_unwind::helper::run_if_asked(argv.get(1..).unwrap_or_default()) {
        return code;
    }
    match quick::read(&argv) {
        Some(quick::OneShot { target, line }) => {
            interrupt::install();
            let timeout = parse_seconds(DEFAULT_TIMEOUT).expect("the default timeout parses");
            let run = modes::uid_for_names(None).and_then(|uid| {
                let options = modes::connect_options(timeout, None);
                modes::one_shot(target, uid, &line, &options, false)
            });
            exit_status(run, false)
        }
        None => {
            let args = Args::parse();
            interrupt::install();
            exit_status(modes::run(&args), args.json)
        }
    }
}

/// The exit status for a run, after saying on stderr (and as JSON with `--json`)
/// why it failed. A reader that closed stdout gets 141 and no message, as if
/// SIGPIPE had ended us.
fn exit_status(result: anyhow::Result<u8>, as_json: bool) -> u8 {
    let err = match result {
        Ok(code) => return code,
        Err(err) => err,
    };
    let closed = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<OutputClosed>());
    if closed.is_some_and(OutputClosed::reader_left) {
        return status::OUTPUT_CLOSED;
    }
    if as_json && closed.is_none() {
        let _ = json::print(&json::connect_error(None, &format!("{err:#}")));
    }
    eprintln!("attach: {}", escape::text(&format!("{err:#}")));
    match err.downcast_ref::<ConnectError>() {
        Some(ConnectError::Interrupted) => status::INTERRUPTED,
        _ => status::NOT_CONNECTED,
    }
}

/// `attach completions <SHELL>`: the completion script for bash, zsh or fish.
fn completions(shell: Option<&str>) -> anyhow::Result<u8> {
    if matches!(shell, Some("-h" | "--help")) {
        output::line(COMPLETIONS_HELP)?;
        return Ok(status::OK);
    }
    let Some(shell) = shell.and_then(|name| clap_complete::Shell::from_str(name).ok()) else {
        anyhow::bail!(
            "usage: attach completions <bash|zsh|fish|elvish|powershell> \
             (`attach completions --help` shows how to install the script)"
        );
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Args::command(), "attach", &mut script);
    output::write(&String::from_utf8_lossy(&script))?;
    Ok(status::OK)
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|timeout| !timeout.is_zero())
        .ok_or_else(|| format!("`{text}` is not a usable timeout; give seconds above 0"))
}

fn parse_signal(text: &str) -> Result<Signal, String> {
    let signal = attach_protocol::marker::parse_signal(text)
        .ok_or_else(|| format!("`{text}` is not a signal name (try USR1 or USR2)"))?;
    if !attach_protocol::is_doorbell(signal as i32) {
        return Err(format!(
            "{signal} is not a doorbell; attach only sends USR1 or USR2 \
             (others could stop or kill the worker)"
        ));
    }
    Ok(signal)
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
        assert!(parse_signal("TERM").is_err() && parse_signal("SIGSTOP").is_err());
    }
}
