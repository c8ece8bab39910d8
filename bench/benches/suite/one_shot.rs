//! Section 3: one-shot `attach PID -e 1+1` from a fresh process, next to `sh -c :`
//! (the floor of starting any process) and jattach asking an idle JVM for `VM.uptime`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use attach_examples::workspace_bin::workspace_bin;

use crate::{run_quietly, show, start, stop, time_each, verdict, Stats};

const RUNS: usize = 300;

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// An idle JVM, compiled from `bench/Idle.java` into a scratch directory.
fn idle_jvm() -> Option<(std::process::Child, PathBuf)> {
    if !on_path("jattach") || !on_path("javac") || !on_path("java") {
        return None;
    }
    let classes = std::env::temp_dir().join(format!("attach-bench-jvm-{}", std::process::id()));
    std::fs::create_dir_all(&classes).ok()?;
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("Idle.java");
    let compiled = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .arg(source)
        .status()
        .ok()?;
    if !compiled.success() {
        return None;
    }
    let (jvm, first) = start(
        Path::new("java"),
        &[
            "-XX:+UseSerialGC",
            "-Xmx64m",
            "-cp",
            classes.to_str()?,
            "Idle",
        ],
        &[],
    );
    (first == "ready").then_some((jvm, classes))
}

pub fn run() {
    let (worker, _) = start(
        &workspace_bin("http-worker"),
        &["--listen", "127.0.0.1:0", "--threads", "2"],
        &[],
    );
    let pid = worker.id().to_string();
    let attach = workspace_bin("attach");
    let jvm = idle_jvm();
    let jvm_pid = jvm.as_ref().map(|(child, _)| child.id().to_string());
    if let Some(jvm_pid) = &jvm_pid {
        // The first jattach starts the JVM's attach listener; measure the steady state.
        for _ in 0..5 {
            run_quietly(Command::new("jattach").args([jvm_pid, "jcmd", "VM.uptime"]));
        }
    }
    let (mut ours, mut floor, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so that machine noise hits all three alike.
    for _ in 0..RUNS {
        ours.extend(time_each(1, || {
            run_quietly(Command::new(&attach).args([&pid, "-e", "1+1"]))
        }));
        floor.extend(time_each(1, || {
            run_quietly(Command::new("sh").args(["-c", ":"]))
        }));
        if let Some(jvm_pid) = &jvm_pid {
            theirs.extend(time_each(1, || {
                run_quietly(Command::new("jattach").args([jvm_pid, "jcmd", "VM.uptime"]))
            }));
        }
    }
    let (ours, floor) = (Stats::of(&ours), Stats::of(&floor));
    let ratio = |other: Duration| ours.p50.as_secs_f64() / other.as_secs_f64();
    println!("## 3. One-shot wall time from a fresh process\n");
    println!("{RUNS} runs of each, interleaved.\n");
    println!("| command | p50 | p99 |");
    println!("| --- | --- | --- |");
    println!(
        "| `attach PID -e 1+1` | {} | {} |",
        show(ours.p50),
        show(ours.p99)
    );
    println!(
        "| floor: `sh -c :` | {} | {} |",
        show(floor.p50),
        show(floor.p99)
    );
    let jattach = (!theirs.is_empty()).then(|| Stats::of(&theirs));
    match &jattach {
        Some(stats) => println!(
            "| `jattach JVM jcmd VM.uptime` (idle JVM) | {} | {} |",
            show(stats.p50),
            show(stats.p99)
        ),
        None => println!(
            "| jattach | not measured: install `jattach` and a JDK (bench/run.sh does) | |"
        ),
    }
    println!("\n| ratio (p50) | value | target | |");
    println!("| --- | --- | --- | --- |");
    let to_floor = ratio(floor.p50);
    println!(
        "| attach / `sh -c :` | {to_floor:.2} | ≤ 1.5 | {} |",
        verdict(to_floor <= 1.5)
    );
    if let Some(stats) = jattach {
        let to_jattach = ratio(stats.p50);
        println!(
            "| attach / jattach | {to_jattach:.2} | ≤ 0.6 | {} |",
            verdict(to_jattach <= 0.6)
        );
    }
    println!();
    stop(worker);
    if let Some((jvm, classes)) = jvm {
        stop(jvm);
        let _ = std::fs::remove_dir_all(classes);
    }
}
