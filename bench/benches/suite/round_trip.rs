//! Sections 2 and 4 (in-session round trips, agent CPU per query) and 7 (scaling
//! with the size of registered state and of the session's scope).

use std::path::PathBuf;
use std::time::Duration;

use attach_cli::{ConnectOptions, Outcome, Session};
use attach_examples::workspace_bin::workspace_bin;

use crate::{agent_tid, show, start, stop, thread_cpu_ns, time_each, verdict, Stats};

const ROUND_TRIPS: usize = 20_000;

fn connect(pid: u32) -> Session {
    Session::connect(pid, &ConnectOptions::default()).expect("connect")
}

fn eval_ok(session: &mut Session, expr: &str) {
    let outcome = session.eval(expr).expect("eval");
    assert!(
        matches!(outcome, Outcome::Value { .. }),
        "{expr}: {outcome:?}"
    );
}

/// Round-trip samples of `expr` and the agent thread's CPU per query.
fn measure(pid: u32, session: &mut Session, expr: &str, runs: usize) -> (Stats, Duration) {
    let agent = agent_tid(pid);
    for _ in 0..runs.min(100) {
        eval_ok(session, expr);
    }
    let cpu_before = thread_cpu_ns(pid, agent);
    let samples = time_each(runs, || eval_ok(session, expr));
    let cpu = Duration::from_nanos((thread_cpu_ns(pid, agent) - cpu_before) / runs as u64);
    (Stats::of(&samples), cpu)
}

pub fn run() {
    let (worker, _) = start(
        &workspace_bin("http-worker"),
        &["--listen", "127.0.0.1:0", "--threads", "2"],
        &[],
    );
    let pid = worker.id();
    let mut session = connect(pid);
    println!("## 2. In-session round trip (and 4. agent CPU per query)\n");
    println!("A real `http-worker` (release build); one session; {ROUND_TRIPS} commands each.\n");
    println!("| command | p50 | p99 | target | | agent CPU per query |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for expr in ["1+1", "requests_served"] {
        let (stats, cpu) = measure(pid, &mut session, expr, ROUND_TRIPS);
        let ok = stats.p50 <= Duration::from_micros(100) && stats.p99 <= Duration::from_micros(500);
        println!(
            "| `p {expr}` | {} | {} | p50 ≤ 100 µs, p99 ≤ 500 µs | {} | {} |",
            show(stats.p50),
            show(stats.p99),
            verdict(ok),
            show(cpu)
        );
    }
    println!();
    drop(session);
    stop(worker);
}

pub fn scaling() {
    println!("## 7. Scaling\n");
    println!(
        "Round trip and agent CPU per query as registered state grows \
         (a `Mutex<BTreeMap>` of N entries, read live on every access).\n"
    );
    println!("| registered map entries | command | p50 | p99 | agent CPU per query |");
    println!("| --- | --- | --- | --- | --- |");
    let worker_bin = PathBuf::from(env!("CARGO_BIN_EXE_bench-worker"));
    for entries in [10usize, 1_000, 100_000] {
        let (worker, _) = start(&worker_bin, &["--entries", &entries.to_string()], &[]);
        let mut session = connect(worker.id());
        let runs = if entries >= 100_000 { 50 } else { 2_000 };
        for expr in ["table.len()", "1+1"] {
            let (stats, cpu) = measure(worker.id(), &mut session, expr, runs);
            println!(
                "| {entries} | `{expr}` | {} | {} | {} |",
                show(stats.p50),
                show(stats.p99),
                show(cpu)
            );
        }
        drop(session);
        stop(worker);
    }
    println!(
        "\nRound trip of `1+1` as the session's scope grows (N variables defined with `let`).\n"
    );
    println!("| session variables | p50 | p99 | agent CPU per query |");
    println!("| --- | --- | --- | --- |");
    let (worker, _) = start(&worker_bin, &[], &[]);
    let mut session = connect(worker.id());
    let mut defined = 0;
    for target in [10usize, 1_000, 10_000] {
        while defined < target {
            let batch: String = (defined..(defined + 500).min(target))
                .map(|i| format!("let v{i} = {i};"))
                .collect();
            defined = (defined + 500).min(target);
            eval_ok(&mut session, &batch);
        }
        let (stats, cpu) = measure(worker.id(), &mut session, "1+1", 2_000);
        println!(
            "| {target} | {} | {} | {} |",
            show(stats.p50),
            show(stats.p99),
            show(cpu)
        );
    }
    println!();
    drop(session);
    stop(worker);
}
