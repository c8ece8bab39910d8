//! Per-label latency over a recent window, for `inflight_stats()`.
//!
//! A `Histogram` has one writer at a time (a thread's own guard slot, or a tracker
//! shard under its lock) and any number of readers (the agent thread). Writing is a
//! few plain atomic loads and stores: no allocation, no lock, no read-modify-write.
//! Buckets are log-linear (4 per power of two of microseconds, so a percentile is
//! within about 12% of the truth). Time is cut into `EPOCH_SECS` epochs with one
//! bucket array each for the current and the previous epoch; the writer clears an
//! array when it moves to a new epoch, and readers add up the arrays of the last two
//! epochs. A read racing a clear may miss a few samples; these are statistics.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};
use serde::Serialize;

/// Length of one epoch; the window is the current and the previous epoch.
pub(crate) const EPOCH_SECS: u64 = 30;
/// Sub-buckets per power of two.
const SUB: u32 = 4;
/// Buckets: exact 0-3 µs, then 4 per power of two up to about 33 s (longer ones
/// land in the last bucket).
pub(crate) const BUCKETS: usize = 96;

/// Latency counts of one label, for the current and the previous epoch.
pub(crate) struct Histogram {
    epoch: [AtomicU64; 2],
    counts: [[AtomicU32; BUCKETS]; 2],
}

impl Histogram {
    pub(crate) const fn new() -> Histogram {
        Histogram {
            epoch: [const { AtomicU64::new(u64::MAX) }; 2],
            counts: [const { [const { AtomicU32::new(0) }; BUCKETS] }; 2],
        }
    }

    /// Records one request of `elapsed` that ended at `now_secs` (monotonic seconds).
    /// Only one thread may record into a histogram at a time.
    pub(crate) fn record(&self, now_secs: u64, elapsed: Duration) {
        let epoch = now_secs / EPOCH_SECS;
        let half = (epoch % 2) as usize;
        if self.epoch[half].load(Ordering::Relaxed) != epoch {
            for count in &self.counts[half] {
                count.store(0, Ordering::Relaxed);
            }
            self.epoch[half].store(epoch, Ordering::Release);
        }
        let count = &self.counts[half][bucket(elapsed)];
        count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Adds the counts of the window ending at `now_secs` into `into`.
    pub(crate) fn add_to(&self, now_secs: u64, into: &mut [u64; BUCKETS]) {
        let epoch = now_secs / EPOCH_SECS;
        for half in 0..2 {
            let stamp = self.epoch[half].load(Ordering::Acquire);
            if stamp == epoch || stamp.wrapping_add(1) == epoch {
                for (sum, count) in into.iter_mut().zip(&self.counts[half]) {
                    *sum += count.load(Ordering::Relaxed) as u64;
                }
            }
        }
    }
}

/// Nanoseconds on the monotonic clock (a vDSO read, no system call).
pub(crate) fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// The bucket of a duration.
fn bucket(elapsed: Duration) -> usize {
    let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
    if micros < SUB as u64 {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros();
    let sub = (micros >> (octave - 2)) & (SUB as u64 - 1);
    ((octave * SUB + sub as u32 - SUB) as usize).min(BUCKETS - 1)
}

/// The middle of a bucket, in microseconds.
fn bucket_middle(index: usize) -> u64 {
    if index < SUB as usize {
        return index as u64;
    }
    let octave = (index as u32 + SUB) / SUB;
    let sub = (index as u32 + SUB) % SUB;
    let width = 1u64 << (octave - 2);
    (SUB as u64 + sub as u64) * width + width / 2
}

/// One label's latency over the window, as `inflight_stats()` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct RouteStats {
    pub(crate) label: String,
    pub(crate) count: u64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
}

/// Merged counts of every label.
#[derive(Default)]
pub(crate) struct Merged(BTreeMap<String, [u64; BUCKETS]>);

impl Merged {
    pub(crate) fn add(&mut self, label: &str, histogram: &Histogram, now_secs: u64) {
        let counts = self.0.entry(label.to_owned()).or_insert([0; BUCKETS]);
        histogram.add_to(now_secs, counts);
    }

    /// Labels with at least one request in the window, busiest first.
    pub(crate) fn stats(self) -> Vec<RouteStats> {
        let mut stats: Vec<RouteStats> = self
            .0
            .into_iter()
            .filter_map(|(label, counts)| {
                let count: u64 = counts.iter().sum();
                (count > 0).then(|| RouteStats {
                    label,
                    count,
                    p50_us: percentile(&counts, count, 50),
                    p99_us: percentile(&counts, count, 99),
                })
            })
            .collect();
        stats.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.label.cmp(&b.label)));
        stats
    }
}

fn percentile(counts: &[u64; BUCKETS], total: u64, percent: u64) -> u64 {
    let rank = (total * percent).div_ceil(100).max(1);
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return bucket_middle(index);
        }
    }
    bucket_middle(BUCKETS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_their_middles_close() {
        let mut last = 0;
        for micros in 0..200_000u64 {
            let index = bucket(Duration::from_micros(micros));
            assert!(index == last || index == last + 1, "{micros}");
            last = index;
            let middle = bucket_middle(index) as f64;
            assert!((middle - micros as f64).abs() <= 0.13 * micros as f64 + 1.0);
        }
    }

    #[test]
    fn percentiles_cover_the_last_two_epochs_only() {
        let histogram = Histogram::new();
        for ms in 1..=100 {
            histogram.record(10 * EPOCH_SECS, Duration::from_millis(ms));
        }
        let mut merged = Merged::default();
        merged.add("GET /a", &histogram, 11 * EPOCH_SECS);
        let stats = merged.stats();
        assert_eq!(stats[0].count, 100);
        assert!((45_000..=56_000).contains(&stats[0].p50_us), "{stats:?}");
        assert!((90_000..=112_000).contains(&stats[0].p99_us), "{stats:?}");
        let mut later = Merged::default();
        later.add("GET /a", &histogram, 12 * EPOCH_SECS);
        assert!(later.stats().is_empty(), "an old epoch leaves the window");
    }
}
