//! Who is inside a request guard right now, for `inflight()`, at almost no cost to
//! the request.
//!
//! Each thread that ever enters a guard gets one `Slot`, allocated and registered
//! (under a mutex) once per thread. Entering and leaving a guard then only touches
//! that thread's own slot with atomic loads and stores: no allocation, no lock, no
//! shared counter bounced between cores. The agent thread reads every slot; a
//! sequence counter (a seqlock) lets it see a label and start time that belong
//! together, retrying the rare read that races a write.

use std::cell::Cell;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};
use serde::Serialize;

use crate::inflight::label::LabelWords;
use crate::inflight::latency::{monotonic_ns, Merged};
use crate::inflight::routes::RouteTable;

/// One thread's request state.
struct Slot {
    tid: i32,
    thread: String,
    depth: AtomicU32,
    seq: AtomicU64,
    since_ms: AtomicU64,
    label: LabelWords,
    /// Latency per label, made at the thread's first labelled guard.
    routes: OnceLock<Box<RouteTable>>,
}

static SLOTS: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());

/// Slots of ended threads, kept for their latency rows (the newest few).
static RETIRED: Mutex<Vec<Arc<Slot>>> = Mutex::new(Vec::new());
const RETIRED_KEPT: usize = 64;

/// No latency row: the outermost guard had no label.
const NO_ROW: usize = usize::MAX;

/// Owns this thread's slot; unregisters it when the thread ends. The cells are the
/// outermost labelled guard's latency row and start, private to the thread.
struct SlotHandle {
    slot: Arc<Slot>,
    row: Cell<usize>,
    started_ns: Cell<u64>,
}

impl SlotHandle {
    fn register() -> SlotHandle {
        let slot = Arc::new(Slot {
            tid: nix::unistd::gettid().as_raw(),
            thread: std::thread::current().name().unwrap_or("").to_owned(),
            depth: AtomicU32::new(0),
            seq: AtomicU64::new(0),
            since_ms: AtomicU64::new(0),
            label: LabelWords::new(),
            routes: OnceLock::new(),
        });
        lock_slots().push(slot.clone());
        SlotHandle {
            slot,
            row: Cell::new(NO_ROW),
            started_ns: Cell::new(0),
        }
    }
}

impl Drop for SlotHandle {
    fn drop(&mut self) {
        lock_slots().retain(|slot| !Arc::ptr_eq(slot, &self.slot));
        if self.slot.routes.get().is_some() {
            let mut retired = RETIRED.lock().unwrap_or_else(|p| p.into_inner());
            if retired.len() == RETIRED_KEPT {
                retired.remove(0);
            }
            retired.push(self.slot.clone());
        }
    }
}

thread_local! {
    static SLOT: SlotHandle = SlotHandle::register();
}

fn lock_slots() -> std::sync::MutexGuard<'static, Vec<Arc<Slot>>> {
    SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Milliseconds on the coarse monotonic clock (a vDSO read, no system call).
fn now_ms() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE)
        .map(|t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
        .unwrap_or(0)
}

/// Marks this thread as entering a guard; the outermost guard records `label` and,
/// if there is one, starts timing the request for `inflight_stats()`.
pub(crate) fn enter(label: Option<&str>) {
    SLOT.with(|handle| {
        let slot = &handle.slot;
        let depth = slot.depth.load(Ordering::Relaxed);
        if depth == 0 {
            // A timed (labelled) request reads the fine clock once, for both uses.
            let started_ns = label.map(|_| monotonic_ns());
            let since_ms = started_ns.map_or_else(now_ms, |ns| ns / 1_000_000);
            let seq = slot.seq.load(Ordering::Relaxed);
            slot.seq.store(seq + 1, Ordering::Relaxed);
            fence(Ordering::Release);
            slot.since_ms.store(since_ms, Ordering::Relaxed);
            let hash = slot.label.store(label.unwrap_or(""));
            slot.seq.store(seq + 2, Ordering::Release);
            match (label, started_ns) {
                (Some(label), Some(started_ns)) => {
                    let routes = slot.routes.get_or_init(|| Box::new(RouteTable::new()));
                    handle.row.set(routes.row(hash, label));
                    handle.started_ns.set(started_ns);
                }
                _ => handle.row.set(NO_ROW),
            }
        }
        slot.depth.store(depth + 1, Ordering::Release);
    });
}

/// Marks this thread as leaving a guard; the outermost labelled one records its
/// latency.
pub(crate) fn leave() {
    // During thread teardown the slot may already be gone: nothing to record then.
    let _ = SLOT.try_with(|handle| {
        let slot = &handle.slot;
        let depth = slot.depth.load(Ordering::Relaxed);
        slot.depth.store(depth.saturating_sub(1), Ordering::Release);
        let row = handle.row.get();
        if depth == 1 && row != NO_ROW {
            if let Some(routes) = slot.routes.get() {
                let now = monotonic_ns();
                let elapsed = Duration::from_nanos(now.saturating_sub(handle.started_ns.get()));
                routes.record(row, now / 1_000_000_000, elapsed);
            }
        }
    });
}

/// Adds the latency rows of every thread (and of the last ended ones) to `merged`.
pub(crate) fn add_latency(merged: &mut Merged, now_secs: u64) {
    let mut slots: Vec<Arc<Slot>> = lock_slots().clone();
    slots.extend(
        RETIRED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned(),
    );
    for slot in &slots {
        if let Some(routes) = slot.routes.get() {
            routes.add_to(merged, now_secs);
        }
    }
}

/// One request in flight, as `inflight()` shows it: a thread inside a
/// `RequestGuard` (`kind` "thread") or an async request (`kind` "task").
#[derive(Debug, Clone, Serialize)]
pub(crate) struct InFlight {
    pub kind: &'static str,
    /// The thread holding the guard; none for a task, which moves between threads.
    pub tid: Option<i32>,
    /// The thread's name (empty for a task).
    pub thread: String,
    /// The label given to the guard or tracker (`GET /orders`), maybe empty.
    pub label: String,
    /// How long the request has been in flight.
    pub held_ms: u64,
    /// Guards nested on this thread (1 for a plain request).
    pub depth: u32,
}

/// Every request in flight now: threads inside guards, then tracked tasks.
pub(crate) fn snapshot() -> Vec<InFlight> {
    let mut all = guarded_threads();
    all.extend(crate::inflight::tracker::snapshot());
    all
}

fn guarded_threads() -> Vec<InFlight> {
    let now = now_ms();
    let slots: Vec<Arc<Slot>> = lock_slots().clone();
    slots
        .iter()
        .filter_map(|slot| {
            let depth = slot.depth.load(Ordering::Acquire);
            if depth == 0 {
                return None;
            }
            let (since, label) = read_consistent(slot)?;
            Some(InFlight {
                kind: "thread",
                tid: Some(slot.tid),
                thread: slot.thread.clone(),
                label,
                held_ms: now.saturating_sub(since),
                depth,
            })
        })
        .collect()
}

/// The start time and label of one write, or None if writes kept racing the read.
fn read_consistent(slot: &Slot) -> Option<(u64, String)> {
    for _ in 0..100 {
        let before = slot.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let since = slot.since_ms.load(Ordering::Relaxed);
        let label = slot.label.load();
        fence(Ordering::Acquire);
        if slot.seq.load(Ordering::Relaxed) == before {
            return Some((since, label));
        }
    }
    None
}

/// Requests in flight right now: request guards across all threads (nested ones
/// included) plus tracked async requests.
pub fn requests_in_flight() -> usize {
    let guards: usize = lock_slots()
        .iter()
        .map(|slot| slot.depth.load(Ordering::Relaxed) as usize)
        .sum();
    guards + crate::inflight::tracker::count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inflight::MAX_LABEL_BYTES;
    use std::sync::Barrier;

    /// Enters guards with `labels` on another thread and returns what `snapshot`
    /// shows for that thread meanwhile.
    fn seen_while_held(labels: &[&str]) -> Option<InFlight> {
        let (entered, go) = (Barrier::new(2), Barrier::new(2));
        std::thread::scope(|scope| {
            let holder = scope.spawn(|| {
                for label in labels {
                    enter(Some(label));
                }
                let tid = nix::unistd::gettid().as_raw();
                entered.wait();
                go.wait();
                labels.iter().for_each(|_| leave());
                tid
            });
            entered.wait();
            let all = snapshot();
            go.wait();
            let tid = holder.join().unwrap();
            all.into_iter().find(|f| f.tid == Some(tid))
        })
    }

    #[test]
    fn the_outermost_label_and_depth_are_visible_from_another_thread() {
        let long = "GET /slow ünïcode that is far longer than sixty-four bytes in total";
        let seen = seen_while_held(&[long, "inner"]).expect("the holder is listed");
        assert_eq!(seen.depth, 2);
        assert!(
            seen.label.len() <= MAX_LABEL_BYTES && long.starts_with(&seen.label),
            "{}",
            seen.label
        );
        assert!(
            seen.label.len() > 56,
            "cut at a character boundary near 64 bytes"
        );
    }

    #[test]
    fn labels_of_every_length_read_back_whole() {
        for label in [
            "",
            "short",
            "GET /sleep",
            "exactly sixteen!",
            "twenty-one characters",
        ] {
            let seen = seen_while_held(&[label]).expect("the holder is listed");
            assert_eq!(seen.label, label);
        }
    }

    #[test]
    fn a_thread_that_left_its_guards_is_not_listed() {
        std::thread::spawn(|| {
            enter(Some("gone"));
            leave();
        })
        .join()
        .unwrap();
        assert!(snapshot().iter().all(|f| f.label != "gone"));
    }

    #[test]
    fn labelled_guards_are_timed_per_label() {
        std::thread::spawn(|| {
            for _ in 0..3 {
                enter(Some("GET /timed-here"));
                enter(Some("nested, not timed"));
                leave();
                leave();
            }
            enter(None);
            leave();
        })
        .join()
        .unwrap();
        let stats = crate::inflight::stats();
        let timed = stats.iter().find(|s| s.label == "GET /timed-here");
        assert_eq!(timed.map(|s| s.count), Some(3), "{stats:?}");
        assert!(!stats.iter().any(|s| s.label.starts_with("nested")));
    }
}
