//! What every example binary does first: send its logs to stderr (through
//! `tracing`, filtered by `RUST_LOG`), and tell whoever started it where it listens.

use std::io::Write;
use std::net::SocketAddr;

/// Logs to stderr, filtered by `RUST_LOG` (nothing by default).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// Prints `listening on <ADDR>` as a complete first line of stdout (the tests and
/// the demo read it to find the port).
pub fn announce_listening(addr: SocketAddr) -> std::io::Result<()> {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr}")?;
    stdout.flush()
}
