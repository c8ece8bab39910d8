//! What is in flight right now, for `inflight()`: per-thread slots filled by request
//! guards, a table of async requests (`RequestTracker`) and the tower layer that
//! fills it. Costs are paid by the request, so every path here stays allocation-free
//! or takes one short, rarely contended lock.

#[cfg(feature = "tower")]
pub(crate) mod layer;
mod slots;
pub(crate) mod tracker;

pub use slots::requests_in_flight;
pub(crate) use slots::*;
