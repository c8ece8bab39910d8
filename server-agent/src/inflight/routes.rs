//! Per-thread latency of labelled request guards, for `inflight_stats()`.
//!
//! A thread's first labelled guard allocates its table once (like its slot); after
//! that, finding a label's row is a scan of at most `ROUTES` hashes and recording is
//! a histogram update (see `latency`): no allocation and no lock on the request
//! thread. Only the owning thread writes; the agent thread reads a row once its hash
//! is published.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::inflight::label::LabelWords;
use crate::inflight::latency::{Histogram, Merged};

/// Distinct labels timed per thread; later ones share the `OTHER` row.
const ROUTES: usize = 16;
/// The label of the row shared by labels past `ROUTES`.
pub(crate) const OTHER: &str = "(other labels)";

struct Route {
    /// 0 while the row is free; set (Release) after the label is written.
    hash: AtomicU64,
    label: LabelWords,
    histogram: Histogram,
}

/// One thread's rows: `ROUTES` labels and the overflow row.
pub(crate) struct RouteTable([Route; ROUTES + 1]);

impl RouteTable {
    pub(crate) fn new() -> RouteTable {
        RouteTable(std::array::from_fn(|_| Route {
            hash: AtomicU64::new(0),
            label: LabelWords::new(),
            histogram: Histogram::new(),
        }))
    }

    /// The row for `label` (whose `LabelWords` hash is `hash`), claiming a free one
    /// if it has none. Only the owning thread calls this.
    pub(crate) fn row(&self, hash: u64, label: &str) -> usize {
        for (index, route) in self.0[..ROUTES].iter().enumerate() {
            match route.hash.load(Ordering::Relaxed) {
                0 => {
                    route.label.store(label);
                    route.hash.store(hash, Ordering::Release);
                    return index;
                }
                seen if seen == hash => return index,
                _ => {}
            }
        }
        ROUTES
    }

    pub(crate) fn record(&self, row: usize, now_secs: u64, elapsed: std::time::Duration) {
        if let Some(route) = self.0.get(row) {
            route.histogram.record(now_secs, elapsed);
        }
    }

    /// Adds every row with data to `merged`.
    pub(crate) fn add_to(&self, merged: &mut Merged, now_secs: u64) {
        for (index, route) in self.0.iter().enumerate() {
            if index == ROUTES {
                merged.add(OTHER, &route.histogram, now_secs);
            } else if route.hash.load(Ordering::Acquire) != 0 {
                merged.add(&route.label.load(), &route.histogram, now_secs);
            }
        }
    }
}
