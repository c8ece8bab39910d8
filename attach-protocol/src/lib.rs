//! The wire contract between the agent inside a worker and the `attach` client.
//!
//! Both sides link this crate so that message types, framing, FIFO naming and the
//! protocol version are written exactly once. `docs/PROTOCOL.md` describes the same
//! contract for humans; keep the two in step.
//!
//! Transport, in one paragraph: the client creates the request FIFO
//! `/tmp/<pid>.pipe` and a reply FIFO `/tmp/<pid>.<token>.reply` (both mode 0600 and
//! owned by the target's uid; in the agent's private directory instead if someone
//! planted the `/tmp` name), writes a `hello` line into the request FIFO and rings the
//! doorbell (SIGUSR1) on the agent thread. The agent opens both FIFOs without following
//! links, checks the opened descriptors, and answers every request with exactly one
//! JSON line on the reply FIFO, in order.
//!
//! This crate must never evaluate anything or touch process state: it is pure
//! contract plus the small amount of I/O (bounded line reads, deadline writes,
//! checked FIFO opens) that both sides need to do identically.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dir;
pub mod fifo;
pub mod framing;
pub mod marker;
pub mod message;
pub mod paths;
pub mod procfs;
pub mod stacks;

pub use dir::{Dir, DirError, DirKind};
pub use fifo::{Access, FifoError, FifoOwner};
pub use framing::{decode_line, encode_line, write_all_by, LineReader, WireError};
pub use marker::{is_doorbell, AgentMarker, AGENT_THREAD_NAME};
pub use message::{ErrorKind, Reply, Request};
pub use paths::{FifoPaths, Token};
pub use procfs::ProcStatus;

/// Version of the wire protocol. Bumped on any incompatible change to `message`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the agent accepts, newline excluded.
pub const MAX_REQUEST_LINE: usize = 1024 * 1024;

/// The longest reply line a client accepts, newline excluded. The agent refuses to
/// send anything larger and answers with an error instead.
pub const MAX_REPLY_LINE: usize = 8 * 1024 * 1024;
