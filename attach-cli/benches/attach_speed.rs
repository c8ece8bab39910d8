//! `cargo bench -p attach-cli --bench attach_speed`: how fast attach answers.
//!
//! Measures, against a real `http-worker` built in release mode:
//! * the in-session round trip of `1+1` and of `requests_served` (target p50 ≤ 100 µs);
//! * the wall time of a one-shot `attach PID -e 1+1` from a fresh process, next to
//!   `sh -c :` as the floor of starting any process (target ≤ 1.5 × the floor).
//!
//! Results are printed, not asserted: speed is measured, never a test failure.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use attach_cli::{ConnectOptions, Outcome, Session};
use attach_examples::workspace_bin::workspace_bin;

const ROUND_TRIPS: usize = 20_000;
const PROCESS_RUNS: usize = 300;

fn main() {
    let mut worker = Command::new(workspace_bin("http-worker"))
        .args(["--listen", "127.0.0.1:0", "--threads", "2"])
        .stdout(Stdio::null())
        .spawn()
        .expect("start http-worker");
    std::thread::sleep(Duration::from_millis(300));
    let pid = worker.id();

    println!(
        "attach speed (pid {pid}, {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut session = Session::connect(pid, &ConnectOptions::default()).expect("connect");
    for expr in ["1+1", "requests_served"] {
        let samples = time_each(ROUND_TRIPS, || {
            let outcome = session.eval(expr).expect("eval");
            assert!(matches!(outcome, Outcome::Value { .. }));
        });
        report(
            &format!("in-session round trip `{expr}`"),
            &samples,
            "target p50 <= 100 us",
        );
    }
    drop(session);
    let options = ConnectOptions::default();
    let samples = time_each(2_000, || {
        let outcome = Session::one_shot(pid, &options, "1+1").expect("one shot");
        assert!(matches!(outcome, Outcome::Value { .. }));
    });
    report(
        "connect+eval+leave, in-process",
        &samples,
        "the session part of a one-shot",
    );

    let attach = workspace_bin("attach");
    let pid_arg = pid.to_string();
    // Interleave the two commands so that machine noise hits both alike.
    let mut one_shot = Vec::with_capacity(PROCESS_RUNS);
    let mut startup = Vec::with_capacity(PROCESS_RUNS);
    let mut floor = Vec::with_capacity(PROCESS_RUNS);
    for _ in 0..PROCESS_RUNS {
        one_shot.extend(time_each(1, || {
            run(Command::new(&attach).args([&pid_arg, "-e", "1+1"]))
        }));
        startup.extend(time_each(1, || run(Command::new(&attach).arg("--version"))));
        floor.extend(time_each(1, || run(Command::new("sh").args(["-c", ":"]))));
    }
    report("one-shot `attach PID -e 1+1`", &one_shot, "");
    report("startup only `attach --version`", &startup, "");
    report("floor `sh -c :`", &floor, "");
    let ratio = percentile(&one_shot, 50.0).as_secs_f64() / percentile(&floor, 50.0).as_secs_f64();
    println!("one-shot / floor at p50: {ratio:.2}x (target <= 1.5x)");

    let _ = worker.kill();
    let _ = worker.wait();
}

fn run(command: &mut Command) {
    let status = command.stdout(Stdio::null()).status().expect("run");
    assert!(status.success());
}

fn time_each(runs: usize, mut body: impl FnMut()) -> Vec<Duration> {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            body();
            started.elapsed()
        })
        .collect()
}

fn percentile(samples: &[Duration], pct: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((pct / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[index]
}

fn report(what: &str, samples: &[Duration], target: &str) {
    println!(
        "{what:<40} n={:<6} p50={:>9.1?} p99={:>9.1?}  {target}",
        samples.len(),
        percentile(samples, 50.0),
        percentile(samples, 99.0)
    );
}
