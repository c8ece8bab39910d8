//! What every example binary does first: send its logs to stderr (through
//! `tracing`, at WARN unless `RUST_LOG` says otherwise), and tell whoever started it
//! where it listens.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;

use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The handle `Agent::builder().log_filter(..)` takes, so `log_level("debug")` works
/// in a session.
pub type LogFilterHandle = reload::Handle<EnvFilter, Registry>;

/// Logs to stderr, filtered by `RUST_LOG` (WARN when it is unset, empty or
/// unreadable, so the agent's warnings are seen).
pub fn init_logging() -> LogFilterHandle {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| !directives.trim().is_empty())
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
    handle
}

/// Prints `listening on <ADDR>` as a complete first line of stdout (the tests and
/// the demo read it to find the port).
pub fn announce_listening(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()
}
