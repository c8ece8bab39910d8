//! Sections 5 (host impact under a wrk load) and 6 (idle cost of an installed agent).

use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use attach_cli::{ConnectOptions, Session};
use attach_examples::workspace_bin::workspace_bin;
use attach_protocol::ProcStatus;

use crate::{agent_tid, start, stop, verdict};

const RUNS: usize = 5;
const SECONDS: u32 = 4;

/// Requests/s and p99 latency (ms) of one wrk run.
fn wrk(addr: &str) -> (f64, f64) {
    let output = Command::new("wrk")
        .args([
            "-t1",
            "-c16",
            &format!("-d{SECONDS}s"),
            "--latency",
            &format!("http://{addr}/"),
        ])
        .output()
        .expect("run wrk (bench/run.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| to_ms(v.trim()))
        .unwrap_or(f64::NAN);
    (rate, p99)
}

fn to_ms(text: &str) -> f64 {
    let split = text.find(|c: char| c.is_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        _ => f64::NAN,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// How the agent is set up while wrk runs.
#[derive(Clone, Copy)]
enum Setup {
    NoAgent,
    Idle,
    Querying(Option<Duration>),
}

/// CPU time the whole process has used, in ms (`utime + stime` in `/proc/<pid>/stat`).
fn process_cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    ticks * 1000.0 / per_second
}

/// One wrk run against a fresh worker set up as `setup`:
/// (requests/s, p99 ms, queries/s, worker CPU µs per request).
fn measure_once(setup: Setup) -> (f64, f64, f64, f64) {
    let env: &[(&str, &str)] = match setup {
        Setup::NoAgent => &[("ATTACH_AGENT", "off")],
        _ => &[],
    };
    let (worker, first) = start(
        &workspace_bin("http-worker"),
        &["--listen", "127.0.0.1:0", "--threads", "4"],
        env,
    );
    let addr = first
        .strip_prefix("listening on ")
        .expect("http-worker address")
        .to_owned();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let queries = Arc::new(AtomicU64::new(0));
    let querier = match setup {
        Setup::Querying(pause) => {
            let (stop_flag, queries, pid) = (stop_flag.clone(), queries.clone(), worker.id());
            Some(std::thread::spawn(move || {
                let mut session =
                    Session::connect(pid, &ConnectOptions::default()).expect("connect");
                while !stop_flag.load(Ordering::Relaxed) {
                    session.eval("requests_served").expect("query");
                    queries.fetch_add(1, Ordering::Relaxed);
                    if let Some(pause) = pause {
                        std::thread::sleep(pause);
                    }
                }
            }))
        }
        _ => None,
    };
    let cpu_before = process_cpu_ms(worker.id());
    let (rate, p99) = wrk(&addr);
    let cpu_per_request =
        (process_cpu_ms(worker.id()) - cpu_before) * 1000.0 / (rate * SECONDS as f64).max(1.0);
    stop_flag.store(true, Ordering::Relaxed);
    if let Some(querier) = querier {
        querier.join().expect("querier");
    }
    stop(worker);
    (
        rate,
        p99,
        queries.load(Ordering::Relaxed) as f64 / SECONDS as f64,
        cpu_per_request,
    )
}

/// Medians per setup over `RUNS` rounds; each round runs every setup once, so that
/// drifts of the machine hit all setups alike.
fn measure_all(setups: &[Setup]) -> Vec<(f64, f64, f64, f64)> {
    let mut runs: Vec<Vec<(f64, f64, f64, f64)>> = vec![Vec::new(); setups.len()];
    for _ in 0..RUNS {
        for (setup, samples) in setups.iter().zip(&mut runs) {
            samples.push(measure_once(*setup));
        }
    }
    runs.into_iter()
        .map(|samples| {
            (
                median(samples.iter().map(|s| s.0).collect()),
                median(samples.iter().map(|s| s.1).collect()),
                median(samples.iter().map(|s| s.2).collect()),
                median(samples.iter().map(|s| s.3).collect()),
            )
        })
        .collect()
}

pub fn run() {
    println!("## 5. Host impact under load\n");
    println!(
        "`wrk -t1 -c16 -d{SECONDS}s --latency` (keep-alive) against \
         `http-worker --threads 4` (release); median of {RUNS} rounds, each round running \
         every setup once. wrk, the worker and the querying client share this machine's \
         2 cores.\n"
    );
    let setups = [
        Setup::NoAgent,
        Setup::Idle,
        Setup::Querying(Some(Duration::from_millis(10))),
        Setup::Querying(None),
    ];
    let results = measure_all(&setups);
    let (base_rate, base_p99, _, base_cpu) = results[0];
    println!(
        "| setup | requests/s | × (a) | p99 latency | × (a) | worker CPU per request | target | |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    println!(
        "| (a) no agent (`ATTACH_AGENT=off`) | {base_rate:.0} | 1.00 | {base_p99:.3} ms | 1.00 \
         | {base_cpu:.2} µs | | |"
    );
    let (rate, p99, _, cpu) = results[1];
    println!(
        "| (b) agent installed, idle | {rate:.0} | {:.3} | {p99:.3} ms | {:.2} | {cpu:.2} µs \
         | throughput ≥ 0.98 × (a) | {} |",
        rate / base_rate,
        p99 / base_p99,
        verdict(rate >= 0.98 * base_rate)
    );
    for (label, (rate, p99, qps, cpu)) in ["every 10 ms", "back to back"].iter().zip(&results[2..])
    {
        println!(
            "| (c) a client querying {label} ({qps:.0} queries/s) | {rate:.0} | {:.3} \
             | {p99:.3} ms | {:.2} | {cpu:.2} µs | p99 ≤ 1.05 × (a) | {} |",
            rate / base_rate,
            p99 / base_p99,
            verdict(*p99 <= 1.05 * base_p99)
        );
    }
    println!();
    idle_cost();
}

fn status_number(pid: u32, path: &str, key: &str) -> u64 {
    ProcStatus::read(format!("/proc/{pid}/{path}"))
        .ok()
        .and_then(|status| status.number(key))
        .unwrap_or(0)
}

fn idle_cost() {
    println!("## 6. Idle cost of an installed agent (before any attach)\n");
    let mut figures = Vec::new();
    for env in [&[("ATTACH_AGENT", "off")][..], &[]] {
        let (worker, _) = start(
            &workspace_bin("http-worker"),
            &["--listen", "127.0.0.1:0", "--threads", "4"],
            env,
        );
        std::thread::sleep(Duration::from_millis(300));
        let pid = worker.id();
        figures.push((
            status_number(pid, "status", "Threads"),
            status_number(pid, "status", "VmRSS"),
            pid,
            worker,
        ));
    }
    let (with_threads, with_rss, pid, _) = &figures[1];
    let agent = agent_tid(*pid);
    let switches = || {
        status_number(
            *pid,
            &format!("task/{agent}/status"),
            "voluntary_ctxt_switches",
        ) + status_number(
            *pid,
            &format!("task/{agent}/status"),
            "nonvoluntary_ctxt_switches",
        )
    };
    let before = switches();
    std::thread::sleep(Duration::from_secs(5));
    let wakeups = (switches() - before) as f64 / 5.0;
    println!("| figure | without agent | with agent | added | target |");
    println!("| --- | --- | --- | --- | --- |");
    println!(
        "| threads | {} | {with_threads} | {} | |",
        figures[0].0,
        with_threads - figures[0].0
    );
    println!(
        "| RSS | {} KiB | {with_rss} KiB | {} KiB | |",
        figures[0].1,
        *with_rss as i64 - figures[0].1 as i64
    );
    println!(
        "| agent thread wake-ups per second (idle, 5 s) | | {wakeups:.1} | | 0 ({}) |\n",
        verdict(wakeups == 0.0)
    );
    for (_, _, _, worker) in figures {
        stop(worker);
    }
}
