//! `attach`'s exit statuses, as plain numbers: the C entry point returns one (see
//! `start`), and the fan-outs take the worst of several with `max`, so the first
//! three are ordered by how bad they are. docs/CLI.md and `--help` list them; a
//! panic (a bug) exits 101, as any Rust program's (`start`).

/// Everything asked for was done.
pub const OK: u8 = 0;
/// The agent answered, and a command failed there (an error, a timeout).
pub const COMMAND_FAILED: u8 = 1;
/// Could not connect, or the session broke; also bad arguments and other errors.
pub const NOT_CONNECTED: u8 = 2;
/// Stopped by Ctrl-C (SIGINT), SIGTERM or SIGHUP while waiting.
pub const INTERRUPTED: u8 = 130;
/// Stdout's reader went away: quietly, as a process ended by SIGPIPE.
pub const OUTPUT_CLOSED: u8 = 141;
