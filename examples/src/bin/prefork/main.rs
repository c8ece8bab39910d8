//! `prefork`: gunicorn's model in Rust. A master binds the listener, starts N
//! `http-worker` processes that share it, and supervises them.
//!
//! Lessons shown (docs/LESSONS.md: graceful termination, reload on SIGHUP, EINTR):
//! * SIGTERM is graceful: the master closes its copy of the listener, forwards
//!   SIGTERM, and each worker takes what is in the backlog, closes its listener,
//!   finishes every accepted request and exits 0. Stragglers get SIGKILL after
//!   `--graceful-timeout`.
//! * SIGINT and SIGQUIT are fast: workers get SIGQUIT and exit at once.
//! * SIGHUP reloads the config file: new workers start with it, then the old ones
//!   drain. The listener never closes, so no request fails.
//! * SIGCHLD: the master reaps with `waitpid(WNOHANG)` in a loop, retrying on EINTR,
//!   and replaces a worker that died unexpectedly.
//! * Every handler only writes to a self-pipe (`SignalEvents`); the master's main
//!   loop does the work. A handler that called `waitpid`, allocated or printed could
//!   interrupt the same code in the main loop (async-signal safety).
//! * The master embeds the agent too: `attach <master pid> -e workers`.
//!
//! Workers are started with fork+exec (`std::process::Command`), never a bare fork:
//! the master has an agent thread, and after fork a child of a threaded process may
//! only call async-signal-safe functions until it execs.
//!
//! Prints `listening on <ADDR>` as its first stdout line.

mod arbiter;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use attach_examples::signals::SignalEvents;
use clap::Parser;
use nix::sys::signal::Signal;

/// A prefork HTTP server: one master, N `http-worker` processes on one listener.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Worker processes.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Threads in each worker.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Config file handed to every worker; SIGHUP re-reads it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How long stopping workers may drain before they are killed.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    graceful_timeout_ms: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    attach_examples::startup::init_logging();
    let view = arbiter::MasterView::default();
    let _agent = view.install_agent()?;
    let events = SignalEvents::install(&[
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ])?;
    let listener = TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    attach_examples::startup::announce_listening(listener.local_addr()?)?;
    let worker_binary = std::env::current_exe()?
        .parent()
        .context("where is this executable?")?
        .join("http-worker");
    let mut arbiter = arbiter::Arbiter::new(
        arbiter::Settings {
            worker_binary,
            workers: args.workers.max(1),
            threads: args.threads,
            config: args.config,
            graceful_timeout: Duration::from_millis(args.graceful_timeout_ms),
        },
        listener,
        view,
    )?;
    arbiter.run(&events)
}
