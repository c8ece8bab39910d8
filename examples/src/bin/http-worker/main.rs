//! `http-worker`: a threaded HTTP worker with the attach agent embedded.
//!
//! Lessons shown (docs/LESSONS.md):
//! * SIGUSR1 opens a REPL (a REPL behind a signal and a named pipe), but only on the agent
//!   thread: the agent is installed before the pool starts, so every pool thread
//!   inherits a mask with SIGUSR1 blocked, and each request also holds a
//!   `RequestGuard`. `/sleep` (and `/sleep/<any name>`, so a slow request can carry a
//!   label of the client's choosing) uses raw `nanosleep` and counts EINTR: it stays 0.
//!   `/spin?ms=N` is the opposite, a request that keeps its thread busy reading the
//!   clock (the vDSO), for stack snapshots of a running thread.
//! * Signal handlers only write to a self-pipe (async-signal safety); the
//!   accept loop reads it. SIGTERM is graceful (graceful termination): close the
//!   listener first, serve what was already accepted, then exit 0. SIGINT and SIGQUIT
//!   are fast: exit at once, as gunicorn's workers do.
//!
//! Standalone it prints `listening on <ADDR>` as its first stdout line. Under the
//! `prefork` master it gets the shared listener as an inherited descriptor
//! (`--listen-fd`) and prints nothing.

mod server;
mod state;

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use anyhow::Context;
use attach_examples::signals::SignalEvents;
use clap::Parser;
use nix::sys::signal::Signal;

/// A threaded HTTP worker you can `attach` to.
#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080", conflicts_with = "listen_fd")]
    listen: String,
    /// Serve on this inherited listening socket instead (set by `prefork`).
    #[arg(long, value_name = "FD")]
    listen_fd: Option<RawFd>,
    /// Worker threads in the pool.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// `key = value` settings (e.g. `greeting = bonjour`), shown as `config`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let log_filter = attach_examples::startup::init_logging();
    let settings = match &args.config {
        Some(path) => attach_examples::config::load(path)?,
        None => Default::default(),
    };
    let state = state::State::new(args.threads, settings);
    // First: every thread started after this inherits SIGUSR1 blocked.
    let _agent = state::install_agent(&state, log_filter)?;
    let events = SignalEvents::install(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT])?;
    let (listener, standalone) = match args.listen_fd {
        Some(fd) => (inherited_listener(fd)?, false),
        None => {
            let listener = TcpListener::bind(&args.listen)
                .with_context(|| format!("cannot listen on {}", args.listen))?;
            (listener, true)
        }
    };
    let address = listener.local_addr()?;
    // Announced once the pool is up, so `listening on` means every thread is there.
    let ready = || match standalone {
        true => Ok(attach_examples::startup::announce_listening(address)?),
        false => Ok(()),
    };
    match server::serve(listener, args.threads.max(1), &state, &events, ready)? {
        server::Stop::Drained => Ok(()),
        // Fast shutdown: in-flight requests are abandoned on purpose.
        server::Stop::Fast => std::process::exit(0),
    }
}

/// Takes ownership of the listening socket `prefork` left open at `fd`.
fn inherited_listener(fd: RawFd) -> anyhow::Result<TcpListener> {
    let is_socket = std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|meta| std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    anyhow::ensure!(is_socket, "--listen-fd {fd} is not an open socket");
    // SAFETY: fd is open (its /proc entry is a socket), was left to us by the
    // parent and is used nowhere else in this process, so we may own it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )?;
    Ok(TcpListener::from(owned))
}
