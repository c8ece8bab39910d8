//! # server-agent: a live REPL inside a running worker, on request
//!
//! Embed this crate in a worker and `attach <pid>` can open a Rhai session inside it,
//! read the state the host registered, and leave without harming it.
//!
//! ```no_run
//! use std::sync::{atomic::AtomicU64, Arc};
//! use server_agent::{Agent, RequestGuard};
//!
//! let served = Arc::new(AtomicU64::new(0));
//! let _agent = Agent::builder()
//!     .live("requests_served", "requests answered so far", served.clone())
//!     .install()
//!     .expect("attach agent");
//! // In every worker thread, around each request:
//! let _guard = RequestGuard::enter();
//! ```
//!
//! ## Why it is built this way
//! * **The host comes first.** SIGUSR1 is only a doorbell: its handler writes one byte
//!   to a self-pipe and returns (async-signal-safe, see `doorbell`). All work happens
//!   on one dedicated agent thread that sleeps until rung.
//! * **Requests are never interrupted.** `RequestGuard` blocks the doorbell on the
//!   request's thread, and `install` blocks it in the calling thread so threads spawned
//!   later inherit the block: only the agent thread ever runs the handler.
//! * **Scripts are fenced.** Every command runs under time, operation, depth and size
//!   limits (`Limits`); registered state is read-only unless the host registered a
//!   function; panics in host callbacks become error replies.
//! * **Nothing in /tmp is trusted.** FIFOs are opened without following links and
//!   checked on the opened descriptor (see `attach_protocol::fifo`).
//! * **Async hosts.** Install before building the runtime (its threads then inherit
//!   the block; `install` warns about threads that started earlier), and track
//!   requests with `RequestTracker`/`track` or, with the `tower` feature,
//!   `InFlightLayer` (with `axum`, labelled by matched route). The `tokio` feature
//!   adds `runtime()` and `tasks()`. Labelled requests are timed for
//!   `inflight_stats()`.
//! * **Silence.** The agent never writes to stdout/stderr; it logs with `tracing`
//!   (target `attach::agent`, audit records under `attach::audit`: sessions at INFO,
//!   commands at DEBUG). Its warnings are also kept for `help()` and `version()`, and
//!   `AgentBuilder::log_filter` lets sessions change the host's log level.
//!
//! Set `ATTACH_AGENT=off` in the environment to start a host without the agent.

#![warn(missing_docs)]

/// The README's embedding snippet, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeSnippet;

mod agent;
mod budget;
mod builtins;
mod error;
mod eval;
mod inflight;
mod limits;
mod logging;
mod quiet_panic;
mod rendezvous;
mod session;
mod signal;
mod state;

pub use agent::{Agent, AgentBuilder};
#[cfg(all(feature = "tokio", tokio_unstable))]
pub use builtins::tasks::instrument_tasks;
pub use error::AgentError;
#[cfg(feature = "tower")]
pub use inflight::layer::{InFlightLayer, InFlightService};
pub use inflight::requests_in_flight;
pub use inflight::tracker::{track, RequestTracker};
pub use limits::Limits;
pub use signal::choice::{DoorbellSignal, UnknownSignal};
pub use signal::guard::RequestGuard;
pub use signal::self_pipe::write_from_handler;
pub use state::function::HostFunction;
pub use state::live::{marker, IntoLive, Live, ReadError};
pub use state::view::{Chunk, Cursor, Encoded, Inspect, Item, Part, Shape, Stint, View};
