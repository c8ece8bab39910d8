//! Section 3: one-shot `attach PID -e 1+1` from a fresh process, next to what any
//! process pays to start: `sh -c :`, a Rust "hello world" built with the release
//! profile (linked statically like `attach`, and as Cargo links by default), a static
//! C one, `attach --version` (our own start-up) and jattach asking an idle JVM for
//! `VM.uptime`. The session's own cost is the one-shot minus `attach --version`. A
//! bare C client of the protocol (`bench/bare_client.c`: FIFOs, doorbell, answer; no
//! discovery, no checks) shows how much of that cost the protocol itself takes here.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use attach_examples::workspace_bin::{workspace_bin, ATTACH_LINK_FLAGS};

use crate::{run_quietly, show, start, stop, time_each, verdict, Stats};

const RUNS: usize = 400;

const C_HELLO: &str = "C hello world, `cc -O2 -static`";
const BARE_CLIENT: &str =
    "bare protocol client in C, no discovery or checks (`bench/bare_client.c`, `cc -O2 -static`)";

/// One program in the comparison: a table label and the command line.
struct Contender {
    label: String,
    argv: Vec<String>,
    samples: Vec<Duration>,
}

impl Contender {
    fn new(label: &str, program: &Path, args: &[&str]) -> Contender {
        let mut argv = vec![program.to_string_lossy().into_owned()];
        argv.extend(args.iter().map(|arg| arg.to_string()));
        Contender {
            label: label.to_owned(),
            argv,
            samples: Vec::new(),
        }
    }

    fn run(&self) {
        run_quietly(Command::new(&self.argv[0]).args(&self.argv[1..]));
    }

    fn p50(&self) -> Duration {
        Stats::of(&self.samples).p50
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

fn compiles(compiler: &str, args: &[&str], source: &Path, output: &Path) -> bool {
    Command::new(compiler)
        .args(args)
        .arg(source)
        .arg("-o")
        .arg(output)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A copy of `program` in `dir`, as an installed binary is. A program fresh from the
/// linker starts measurably slower from where it was linked (`attach --version` took
/// 600 µs at `target/release/attach` and 472 µs copied, the same bytes; most likely
/// the page cache holds the linker's output in smaller pieces, so each page fault
/// maps less of it). Every contender built here is timed as an installed copy.
fn installed(program: &Path, dir: &Path) -> PathBuf {
    let name = program.file_stem().expect("a program file name");
    let copy = dir.join(name);
    std::fs::copy(program, &copy).expect("copy a program into the scratch directory");
    copy
}

/// The hello worlds, compiled into `dir`: the Rust one with the release profile's
/// settings (static like `attach`, then dynamic as Cargo links by default), and a
/// static C one and the bare protocol client when a C compiler is installed.
fn hello_worlds(dir: &Path) -> Vec<(&'static str, Option<PathBuf>)> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let release = [
        "--edition",
        "2021",
        "-C",
        "opt-level=3",
        "-C",
        "codegen-units=16",
    ];
    let rust = |name: &str, extra: &[&str]| {
        let output = dir.join(format!("{name}.linked"));
        let args: Vec<&str> = release.iter().chain(extra).copied().collect();
        compiles(&rustc, &args, &here.join("hello.rs"), &output).then(|| installed(&output, dir))
    };
    let c_static = dir.join("hello-c-static.linked");
    let bare = dir.join("bare-client.linked");
    vec![
        (
            "Rust hello world, release profile, static like `attach`",
            rust("hello-rust-static", &ATTACH_LINK_FLAGS),
        ),
        (
            "Rust hello world, release profile, Cargo's default linking",
            rust("hello-rust", &[]),
        ),
        (
            C_HELLO,
            (on_path("cc")
                && compiles("cc", &["-O2", "-static"], &here.join("hello.c"), &c_static))
            .then(|| installed(&c_static, dir)),
        ),
        (
            BARE_CLIENT,
            (on_path("cc")
                && compiles(
                    "cc",
                    &["-O2", "-static"],
                    &here.join("bare_client.c"),
                    &bare,
                ))
            .then(|| installed(&bare, dir)),
        ),
    ]
}

/// The tid of `pid`'s agent thread, for the bare client: what its announcement says,
/// read the way `attach` reads it.
fn agent_thread(pid: u32) -> Option<String> {
    let status = attach_protocol::ProcStatus::of_pid(pid).ok()?;
    let marker = attach_protocol::AgentMarker::of_process(pid, &status).ok()??;
    Some(marker.tid.to_string())
}

/// An idle JVM, compiled from `bench/Idle.java` into `dir`.
fn idle_jvm(dir: &Path) -> Option<std::process::Child> {
    if !on_path("jattach") || !on_path("javac") || !on_path("java") {
        return None;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("Idle.java");
    let compiled = Command::new("javac")
        .arg("-d")
        .arg(dir)
        .arg(source)
        .status()
        .ok()?;
    if !compiled.success() {
        return None;
    }
    let java_args = ["-XX:+UseSerialGC", "-Xmx64m", "-cp", dir.to_str()?, "Idle"];
    let (jvm, first) = start(Path::new("java"), &java_args, &[]);
    (first == "ready").then_some(jvm)
}

pub fn run() {
    let scratch =
        std::env::temp_dir().join(format!("attach-bench-one-shot-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch directory");
    let (worker, _) = start(
        &workspace_bin("http-worker"),
        &["--listen", "127.0.0.1:0", "--threads", "2"],
        &[],
    );
    let pid = worker.id().to_string();
    let attach = installed(&workspace_bin("attach"), &scratch);
    let mut contenders = vec![
        Contender::new("`attach PID -e 1+1`", &attach, &[&pid, "-e", "1+1"]),
        Contender::new("`attach --version`", &attach, &["--version"]),
        Contender::new("floor: `sh -c :`", Path::new("sh"), &["-c", ":"]),
    ];
    let mut missing = Vec::new();
    let agent_tid = agent_thread(worker.id()).expect("the worker runs an agent thread");
    for (label, program) in hello_worlds(&scratch) {
        let args: &[&str] = if label == BARE_CLIENT {
            &[&pid, &agent_tid]
        } else {
            &[]
        };
        match program {
            Some(program) => contenders.push(Contender::new(label, &program, args)),
            None => missing.push(format!("| {label} | not measured: no compiler | | |")),
        }
    }
    let jvm = idle_jvm(&scratch);
    let jattach_label = "`jattach JVM jcmd VM.uptime` (idle JVM)";
    match &jvm {
        Some(jvm) => {
            let jvm_pid = jvm.id().to_string();
            let jattach = Contender::new(
                jattach_label,
                Path::new("jattach"),
                &[&jvm_pid, "jcmd", "VM.uptime"],
            );
            // The first jattach starts the JVM's attach listener; measure the steady state.
            for _ in 0..5 {
                jattach.run();
            }
            contenders.push(jattach);
        }
        None => missing.push(
            "| jattach | not measured: install `jattach` and a JDK (bench/run.sh does) | | |"
                .into(),
        ),
    }
    // Interleaved, in alternating order, so that machine noise hits all alike.
    for round in 0..RUNS {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..contenders.len()).collect()
        } else {
            (0..contenders.len()).rev().collect()
        };
        for i in order {
            let contender = &mut contenders[i];
            let sample = time_each(1, || contender.run());
            contender.samples.extend(sample);
        }
    }
    print_tables(&contenders, &missing);
    stop(worker);
    if let Some(jvm) = jvm {
        stop(jvm);
    }
    let _ = std::fs::remove_dir_all(scratch);
}

fn print_tables(contenders: &[Contender], missing: &[String]) {
    let p50 = |label: &str| {
        contenders
            .iter()
            .find(|c| c.label == label)
            .map(Contender::p50)
    };
    let floor = p50("floor: `sh -c :`").expect("sh is measured");
    println!("## 3. One-shot wall time from a fresh process\n");
    println!("{RUNS} runs of each, interleaved in alternating order.\n");
    println!("| command | p50 | p99 | × `sh -c :` (p50) |");
    println!("| --- | --- | --- | --- |");
    for contender in contenders {
        let stats = Stats::of(&contender.samples);
        println!(
            "| {} | {} | {} | {:.2} |",
            contender.label,
            show(stats.p50),
            show(stats.p99),
            stats.p50.as_secs_f64() / floor.as_secs_f64()
        );
    }
    for line in missing {
        println!("{line}");
    }
    let one_shot = p50("`attach PID -e 1+1`").expect("attach is measured");
    let version = p50("`attach --version`").expect("attach is measured");
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!("\n| ratio (p50) | value | target | |");
    println!("| --- | --- | --- | --- |");
    let row = |what: &str, value: f64, ceiling: f64| {
        println!(
            "| {what} | {value:.2} | ≤ {ceiling} | {} |",
            verdict(value <= ceiling)
        );
    };
    if let Some(jattach) = p50("`jattach JVM jcmd VM.uptime` (idle JVM)") {
        row("attach / jattach", ratio(one_shot, jattach), 1.0);
    }
    row("attach / `sh -c :`", ratio(one_shot, floor), 1.3);
    for (label, what) in [
        (
            "Rust hello world, release profile, static like `attach`",
            "`attach --version` / Rust hello world (static, like attach)",
        ),
        (
            "Rust hello world, release profile, Cargo's default linking",
            "`attach --version` / Rust hello world (Cargo's default linking)",
        ),
    ] {
        if let Some(hello) = p50(label) {
            row(what, ratio(version, hello), 1.0);
        }
    }
    let session = one_shot.saturating_sub(version);
    row(
        &format!(
            "session overhead (one-shot − `--version` = {}) / `sh -c :`",
            show(session)
        ),
        ratio(session, floor),
        0.25,
    );
    if let (Some(bare), Some(c_hello)) = (p50(BARE_CLIENT), p50(C_HELLO)) {
        let protocol = bare.saturating_sub(c_hello);
        println!(
            "\nThe protocol alone (bare C client − C hello world) takes {} = {:.2} × `sh -c :`; \
             attach's discovery, checks and own code add {} to it.",
            show(protocol),
            ratio(protocol, floor),
            show(session.saturating_sub(protocol)),
        );
    }
    println!();
}
