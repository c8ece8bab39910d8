//! `http-worker`: a threaded HTTP worker with the attach agent embedded.
//!
//! Lessons shown (see `../shared/seeds/`):
//! * SIGUSR1 opens a REPL (the gunicorn REPL worker seed), but only on the agent
//!   thread: the agent is installed before the pool starts, so every pool thread
//!   inherits a mask with SIGUSR1 blocked, and each request also holds a
//!   `RequestGuard`. `/sleep` uses raw `nanosleep` and counts EINTR: it stays 0.
//! * SIGTERM/SIGINT are only written to a self-pipe by the handler; the accept loop
//!   reads it, closes the listener first and drains in-flight requests (graceful
//!   termination seed).
//!
//! Prints `listening on <ADDR>` as its first stdout line.

mod server;
mod state;

use std::io::Write;
use std::net::TcpListener;

use anyhow::Context;
use attach_examples::signals::SignalEvents;
use clap::Parser;
use nix::sys::signal::Signal;

/// A threaded HTTP worker you can `attach` to.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Worker threads in the pool.
    #[arg(long, default_value_t = 4)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let state = state::State::new(args.threads);
    // First: every thread started after this inherits SIGUSR1 blocked.
    let _agent = state::install_agent(&state)?;
    let events = SignalEvents::install(&[Signal::SIGTERM, Signal::SIGINT])?;
    let listener = TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    server::serve(listener, args.threads.max(1), &state, &events)
}
