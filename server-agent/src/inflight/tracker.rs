//! In-flight tracking for async hosts, where a request is a task, not a thread.
//!
//! A task moves between runtime threads at every `.await`, so a per-thread signal
//! mask cannot follow it (and does not need to: the runtime's threads already block
//! the doorbell when the agent was installed first). `RequestTracker` only records
//! the request for `inflight()`: a label and a start time in a small sharded table,
//! removed on drop, when its latency goes into the shard's histogram of that label
//! (for `inflight_stats()`). It is `Send`, touches no signal mask, and costs one
//! short, rarely contended lock on creation and on drop.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::inflight::latency::{monotonic_ns, Histogram, Merged};
use crate::inflight::routes::OTHER;
use crate::inflight::InFlight;

const SHARDS: usize = 16;
/// Distinct labels timed per shard; later ones share the `OTHER` row.
const ROUTES_PER_SHARD: usize = 64;

struct Task {
    label: String,
    since: Instant,
}

/// One shard: a slab of tasks with a free list, and latency per label.
struct Shard {
    slots: Vec<Option<Task>>,
    free: Vec<usize>,
    latency: BTreeMap<String, Histogram>,
}

static TABLE: [Mutex<Shard>; SHARDS] = [const {
    Mutex::new(Shard {
        slots: Vec::new(),
        free: Vec::new(),
        latency: BTreeMap::new(),
    })
}; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn lock(shard: usize) -> std::sync::MutexGuard<'static, Shard> {
    TABLE[shard]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An async request in flight, shown by `inflight()` until dropped.
#[must_use = "the request is only tracked while the tracker is alive"]
#[derive(Debug)]
pub struct RequestTracker {
    shard: usize,
    slot: usize,
}

impl RequestTracker {
    /// Starts tracking a request labelled `label` (e.g. `"GET /orders"`).
    pub fn start(label: impl Into<String>) -> RequestTracker {
        let shard = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
        let task = Task {
            label: label.into(),
            since: Instant::now(),
        };
        let mut table = lock(shard);
        let slot = match table.free.pop() {
            Some(slot) => {
                table.slots[slot] = Some(task);
                slot
            }
            None => {
                table.slots.push(Some(task));
                table.slots.len() - 1
            }
        };
        RequestTracker { shard, slot }
    }
}

impl Drop for RequestTracker {
    fn drop(&mut self) {
        let mut table = lock(self.shard);
        let task = table.slots[self.slot].take();
        table.free.push(self.slot);
        if let Some(task) = task {
            table.record(&task.label, task.since.elapsed());
        }
    }
}

impl Shard {
    fn record(&mut self, label: &str, elapsed: Duration) {
        let known = self.latency.contains_key(label);
        let row = if known || self.latency.len() < ROUTES_PER_SHARD {
            label
        } else {
            OTHER
        };
        if !self.latency.contains_key(row) {
            self.latency.insert(row.to_owned(), Histogram::new());
        }
        if let Some(histogram) = self.latency.get(row) {
            histogram.record(monotonic_ns() / 1_000_000_000, elapsed);
        }
    }
}

/// Adds the latency rows of every shard to `merged`.
pub(crate) fn add_latency(merged: &mut Merged, now_secs: u64) {
    for shard in 0..SHARDS {
        for (label, histogram) in &lock(shard).latency {
            merged.add(label, histogram, now_secs);
        }
    }
}

/// Runs `future` as a tracked request: it shows in `inflight()` until it completes
/// (or is dropped).
pub fn track<F: Future>(label: impl Into<String>, future: F) -> impl Future<Output = F::Output> {
    let tracker = RequestTracker::start(label);
    async move {
        let _tracker = tracker;
        future.await
    }
}

/// Every tracked task now.
pub(crate) fn snapshot() -> Vec<InFlight> {
    (0..SHARDS)
        .flat_map(|shard| {
            lock(shard)
                .slots
                .iter()
                .flatten()
                .map(|task| InFlight {
                    kind: "task",
                    tid: None,
                    thread: String::new(),
                    label: task.label.clone(),
                    held_ms: task.since.elapsed().as_millis() as u64,
                    depth: 1,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Tracked tasks now.
pub(crate) fn count() -> usize {
    (0..SHARDS)
        .map(|shard| lock(shard).slots.iter().flatten().count())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_show_until_dropped_and_slots_are_reused() {
        let first = RequestTracker::start("GET /a-unique-label");
        assert!(snapshot()
            .iter()
            .any(|t| t.label == "GET /a-unique-label" && t.kind == "task"));
        let moved = std::thread::spawn(move || drop(first));
        moved.join().unwrap();
        assert!(!snapshot().iter().any(|t| t.label == "GET /a-unique-label"));
    }
}
