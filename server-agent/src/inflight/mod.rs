//! What is in flight right now, for `inflight()`, and how long requests took, for
//! `inflight_stats()`: per-thread slots filled by request guards, a table of async
//! requests (`RequestTracker`), the tower layer that fills it, and per-label latency
//! histograms kept by both. Costs are paid by the request, so every path here stays
//! allocation-free or takes one short, rarely contended lock.

mod label;
mod latency;
#[cfg(feature = "tower")]
pub(crate) mod layer;
mod routes;
mod slots;
pub(crate) mod tracker;

pub(crate) use label::MAX_LABEL_BYTES;
pub use slots::requests_in_flight;
pub(crate) use slots::*;

/// Latency per label over the last 30 to 60 s, guards and tracked tasks together,
/// busiest first (`inflight_stats()`).
pub(crate) fn stats() -> Vec<latency::RouteStats> {
    let now_secs = latency::monotonic_ns() / 1_000_000_000;
    let mut merged = latency::Merged::default();
    slots::add_latency(&mut merged, now_secs);
    tracker::add_latency(&mut merged, now_secs);
    merged.stats()
}
