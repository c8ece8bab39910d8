//! The benchmark suite behind `BENCHMARKS.md` (run it with `bench/run.sh`).
//!
//! Speed is measured, never asserted: every section prints a markdown table with the
//! median and p99 of many runs, the target, and the ratio, all taken in this one run.
//! Sections: the request guard, in-session round trips and agent CPU per query, the
//! one-shot wall time next to `sh -c :` and jattach, host impact under a wrk load,
//! the idle cost of an installed agent, scaling, fan-out over many targets through
//! ssh, the pause `stacks()` costs each thread, and registered collections read as views.

mod fanout;
mod fleet;
mod guard;
mod host_impact;
mod one_shot;
mod round_trip;
mod stacks;
mod views;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |section: &str| only.is_empty() || only.iter().any(|o| o == section);
    if wanted("guard") {
        guard::run();
    }
    if wanted("round_trip") {
        round_trip::run();
    }
    if wanted("one_shot") {
        one_shot::run();
    }
    if wanted("host_impact") {
        host_impact::run();
    }
    if wanted("scaling") {
        round_trip::scaling();
        fanout::run();
    }
    if wanted("fleet") {
        fleet::run();
    }
    if wanted("stacks") {
        stacks::run();
    }
    if wanted("views") {
        views::run_section();
    }
}

/// Median and 99th percentile of a set of samples.
pub struct Stats {
    pub p50: Duration,
    pub p99: Duration,
    pub n: usize,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let at = |pct: f64| sorted[((pct / 100.0) * (sorted.len() - 1) as f64).round() as usize];
        Stats {
            p50: at(50.0),
            p99: at(99.0),
            n: sorted.len(),
        }
    }
}

/// Times `body` `runs` times.
pub fn time_each(runs: usize, mut body: impl FnMut()) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            body();
            started.elapsed()
        })
        .collect()
}

/// A duration for a table cell, in a unit that fits.
pub fn show(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// `met` or `missed` for a ratio against a ceiling (or, with `floor`, a minimum).
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// Starts `program` and waits for its first stdout line; the rest is discarded.
pub fn start(program: &Path, args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    std::thread::spawn(move || for _ in lines {});
    (child, first)
}

/// Runs `command` to its end with no input and no output; it must succeed.
pub fn run_quietly(command: &mut Command) {
    let status = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success(), "{command:?} failed");
}

/// Stops a started process.
pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU time a thread has used, in nanoseconds (`/proc/<pid>/task/<tid>/schedstat`).
pub fn thread_cpu_ns(pid: u32, tid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The tid of the agent thread of `pid`.
pub fn agent_tid(pid: u32) -> u32 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            (comm.trim() == "attach-agent").then(|| task.file_name().to_str()?.parse().ok())?
        })
        .expect("an agent thread")
}
