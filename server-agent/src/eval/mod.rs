//! Running scripts: the Rhai engine and its limits, reading registered values on a
//! script's behalf, and completion.
//!
//! Everything a script can reach goes through here, so every budget (time, size) is
//! enforced here; nothing here may print, load files, or let a panic escape.

pub(crate) mod complete;
mod engine;
mod guarded;
mod hooks;
mod meter;
mod reads;
mod reply;
pub(crate) mod values;
mod views;

pub(crate) use engine::{Evaluator, SessionScope};
