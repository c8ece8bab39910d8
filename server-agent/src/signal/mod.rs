//! Everything that touches signals: the doorbell handler and its self-pipe, the
//! request guard that masks the doorbell, and the check for threads it can still reach.
//!
//! This is the bottom of the crate: it imports nothing from above it, and nothing
//! here may allocate, lock or log on a path a signal handler or a request runs.

pub(crate) mod choice;
pub(crate) mod doorbell;
pub(crate) mod exposure;
pub(crate) mod guard;
pub(crate) mod self_pipe;
