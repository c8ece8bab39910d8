//! Section 10: registered collections read as views, on `cache-worker` (a
//! `Mutex<HashMap<String, CacheEntry>>` whose writer thread updates a random entry
//! every millisecond and records its longest wait for the lock).

use attach_cli::{ConnectOptions, Outcome, Session};
use attach_examples::workspace_bin::workspace_bin;

use crate::{show, start, stop, verdict, Stats};
use std::time::{Duration, Instant};

const SIZES: [usize; 3] = [10, 10_000, 1_000_000];

/// What one command cost: agent time (`elapsed_us`; the client's wall time when the
/// command ended with an error, e.g. a scan stopped by the time limit) and how it ended.
fn run(session: &mut Session, expr: &str) -> (Duration, bool) {
    let started = Instant::now();
    match session.eval(expr).expect("eval") {
        Outcome::Value { elapsed_us, .. } => (Duration::from_micros(elapsed_us), true),
        Outcome::Failed { .. } => (started.elapsed(), false),
    }
}

fn number(session: &mut Session, expr: &str) -> u64 {
    match session.eval(expr).expect("eval") {
        Outcome::Value { value, .. } => value.as_u64().unwrap_or(0),
        other => panic!("{expr}: {other:?}"),
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The commands measured, with their runs and (for the largest map) their target.
fn commands(entries: usize) -> Vec<(&'static str, Vec<String>, Option<Duration>)> {
    let lookups = (0..50)
        .map(|i| format!("cache[\"k{}\"]", (i * 7919 + entries - 1) % entries))
        .collect();
    let scans = if entries >= 1_000_000 { 3 } else { 10 };
    vec![
        (
            "`cache.len()`",
            vec!["cache.len()".to_owned(); 50],
            Some(Duration::from_millis(5)),
        ),
        ("`cache[\"k…\"]`", lookups, Some(Duration::from_millis(5))),
        (
            "`cache.keys().take(1000)`",
            vec!["cache.keys().take(1000).len()".to_owned(); 20],
            Some(Duration::from_millis(20)),
        ),
        (
            "full scan: `for v in cache.values() { n += v.hits }`",
            vec!["let n = 0; for v in cache.values() { n += v.hits } n".to_owned(); scans],
            None,
        ),
    ]
}

pub fn run_section() {
    println!("## 10. Registered collections as views\n");
    println!(
        "`cache-worker --entries N` (release): a `Mutex<HashMap<String, CacheEntry>>`; its writer thread \
         updates a random entry every millisecond and records its longest wait for the lock. \
         Agent time is `elapsed_us` (what `attach --json` reports); a scan stopped by the 1 s time limit \
         shows the client's wall time and \"(limit)\". Worst writer wait: the longest the writer waited \
         while that command ran its rounds. Targets apply to the 1 000 000-entry map: `len()` and a \
         lookup ≤ 5 ms, the first 1 000 keys ≤ 20 ms, writer wait ≤ 5 ms, RSS growth ≤ 32 MiB.\n"
    );
    println!("| entries | command | runs | agent time p50 | max | worst writer wait | target | |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut growth = Vec::new();
    for entries in SIZES {
        let (worker, first) = start(
            &workspace_bin("cache-worker"),
            &["--entries", &entries.to_string()],
            &[],
        );
        assert_eq!(first, "ready", "cache-worker did not start");
        let pid = worker.id();
        let mut session = Session::connect(pid, &ConnectOptions::default()).expect("connect");
        run(&mut session, "1 + 1");
        let rss_before = rss_kib(pid);
        let largest = entries == *SIZES.last().unwrap();
        for (label, exprs, target) in commands(entries) {
            number(&mut session, "reset_writer_stats()");
            let mut samples = Vec::new();
            let mut all_ok = true;
            for expr in &exprs {
                let (took, ok) = run(&mut session, expr);
                samples.push(took);
                all_ok &= ok;
            }
            let wait = Duration::from_micros(number(&mut session, "writer_max_wait_us"));
            let stats = Stats::of(&samples);
            let max = samples.iter().max().copied().unwrap_or_default();
            let (target_text, met) = match (largest, target) {
                (true, Some(target)) => (
                    format!("≤ {}, wait ≤ 5 ms", show(target)),
                    verdict(stats.p50 <= target && wait <= Duration::from_millis(5)),
                ),
                (true, None) => (
                    "wait ≤ 5 ms".to_owned(),
                    verdict(wait <= Duration::from_millis(5)),
                ),
                (false, _) => (String::new(), ""),
            };
            println!(
                "| {entries} | {label} | {} | {}{} | {} | {} | {target_text} | {met} |",
                stats.n,
                show(stats.p50),
                if all_ok { "" } else { " (limit)" },
                show(max),
                show(wait),
            );
        }
        drop(session);
        // The agent gives memory back when a session ends; let it.
        std::thread::sleep(Duration::from_millis(200));
        growth.push((entries, rss_before, rss_kib(pid).saturating_sub(rss_before)));
        stop(worker);
    }
    println!("\n| entries | worker RSS before | RSS growth through all the commands | target | |");
    println!("| --- | --- | --- | --- | --- |");
    for (entries, before, grown) in growth {
        let largest = entries == *SIZES.last().unwrap();
        println!(
            "| {entries} | {:.1} MiB | {:.1} MiB | {} | {} |",
            before as f64 / 1024.0,
            grown as f64 / 1024.0,
            if largest { "≤ 32 MiB" } else { "" },
            if largest {
                verdict(grown <= 32 * 1024)
            } else {
                ""
            },
        );
    }
    println!();
}
