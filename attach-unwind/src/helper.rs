//! `attach __stacks <pid> <milliseconds>`: the process the agent starts to read its
//! stacks. It waits for the agent's go-ahead on stdin (a byte, or end of input),
//! because the agent can only name it as its tracer once it exists; then it prints
//! one `HelperReply` as JSON on stdout.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use attach_protocol::stacks::{HelperReply, HELPER_SUBCOMMAND};

/// Runs the helper if `args` (without the program name) ask for it; `None` if not.
pub fn run_if_asked(args: &[String]) -> Option<u8> {
    let (first, rest) = args.split_first()?;
    (first == HELPER_SUBCOMMAND).then(|| run(rest))
}

fn run(args: &[String]) -> u8 {
    let started = Instant::now();
    let reply = match parse(args) {
        Ok((pid, limit)) => {
            let mut go = [0u8; 1];
            let _ = std::io::stdin().read(&mut go);
            match crate::snapshot(pid, started + limit) {
                Ok(threads) => HelperReply::Threads(threads),
                Err(err) => HelperReply::Error(err.to_string()),
            }
        }
        Err(usage) => HelperReply::Error(usage),
    };
    let failed = matches!(reply, HelperReply::Error(_));
    let json = serde_json::to_string(&reply).unwrap_or_default();
    let written = writeln!(std::io::stdout().lock(), "{json}");
    u8::from(failed || written.is_err())
}

fn parse(args: &[String]) -> Result<(u32, Duration), String> {
    match args {
        [pid, ms] => Ok((
            pid.parse().map_err(|_| format!("not a pid: {pid:?}"))?,
            Duration::from_millis(ms.parse().map_err(|_| format!("not milliseconds: {ms:?}"))?),
        )),
        _ => Err(format!(
            "usage: attach {HELPER_SUBCOMMAND} <pid> <milliseconds> (started by the agent for stacks())"
        )),
    }
}
