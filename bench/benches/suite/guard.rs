//! Section 1: the request guard against its floor: two raw `pthread_sigmask` calls.

use std::time::{Duration, Instant};

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
use server_agent::RequestGuard;

use crate::{show, verdict, Stats};

const BATCHES: usize = 300;
const PER_BATCH: usize = 20_000;

/// Per-iteration time of each batch.
fn batches(mut body: impl FnMut()) -> Vec<Duration> {
    (0..BATCHES)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..PER_BATCH {
                body();
            }
            started.elapsed() / PER_BATCH as u32
        })
        .collect()
}

pub fn run() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGUSR1);
    let floor = || {
        let mut previous = SigSet::empty();
        let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut previous));
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&previous), None);
    };
    // Interleave the three so that machine noise hits them alike.
    let (mut raw, mut plain, mut labeled) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..3 {
        raw.extend(batches(floor));
        plain.extend(batches(|| {
            drop(std::hint::black_box(RequestGuard::enter()))
        }));
        labeled.extend(batches(|| {
            drop(std::hint::black_box(RequestGuard::enter_labeled(
                "GET /orders",
            )))
        }));
    }
    let floor = Stats::of(&raw);
    println!("## 1. Request guard: enter + exit, per request\n");
    println!(
        "Median and p99 of {} batches of {PER_BATCH} iterations (per-iteration time).\n",
        floor.n
    );
    println!("| what | p50 | p99 | × floor (p50) | target | |");
    println!("| --- | --- | --- | --- | --- | --- |");
    println!(
        "| floor: two raw `pthread_sigmask` calls | {} | {} | 1.00 | | |",
        show(floor.p50),
        show(floor.p99)
    );
    for (what, samples) in [
        ("`RequestGuard::enter()`", &plain),
        ("`RequestGuard::enter_labeled(..)`", &labeled),
    ] {
        let stats = Stats::of(samples);
        let ratio = stats.p50.as_secs_f64() / floor.p50.as_secs_f64();
        println!(
            "| {what} | {} | {} | {ratio:.3} | ≤ 1.10 | {} |",
            show(stats.p50),
            show(stats.p99),
            verdict(ratio <= 1.10)
        );
    }
    let tracking = Stats::of(&plain).p50.saturating_sub(floor.p50);
    let latency = Stats::of(&labeled)
        .p50
        .saturating_sub(Stats::of(&plain).p50);
    println!(
        "\nIn-flight tracking (the `inflight()` slot: thread-local, atomics, coarse clock) \
         adds about {} per request.",
        show(tracking)
    );
    println!(
        "A label and its latency for `inflight_stats()` (label copy, two monotonic clock \
         reads, a histogram update in the thread's own row) add about {} more.\n",
        show(latency)
    );
}
