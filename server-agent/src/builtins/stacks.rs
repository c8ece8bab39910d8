//! `stacks()`: a symbolized stack of every thread, read from outside the process.
//!
//! A thread cannot walk another thread's stack safely from inside the process: that
//! would take a signal to every thread, and a request thread must never see one. So
//! the agent asks a debugger-grade helper to read the process from outside with
//! ptrace: `eu-stack` (elfutils; stops the process for a few milliseconds) or, if
//! that is missing, `gdb` (a few hundred). ptrace stops and resumes threads without
//! running any handler, so interrupted system calls restart transparently: requests
//! see no EINTR.
//!
//! Under Yama's ptrace scope 1 a process may only be traced by its ancestors, so the
//! helper starts as `sh` waiting on a pipe, the agent names it as its tracer
//! (`PR_SET_PTRACER`), and only then lets it exec the helper. Stricter policies
//! produce an error that says which setting forbids it.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use attach_protocol::framing::wait_for;
use nix::poll::PollFlags;
use serde::Serialize;

/// The longest a stack snapshot may take before the helper is killed.
pub const STACKS_TIMEOUT: Duration = Duration::from_secs(5);

/// Set to `eu-stack` or `gdb` to choose the helper instead of the default order.
pub const STACKS_TOOL_ENV: &str = "ATTACH_STACKS_TOOL";

#[derive(Debug, Serialize)]
pub(crate) struct ThreadStack {
    tid: u32,
    name: String,
    frames: Vec<String>,
}

#[derive(Clone, Copy)]
enum Tool {
    EuStack,
    Gdb,
}

impl Tool {
    fn program(self) -> &'static str {
        match self {
            Tool::EuStack => "eu-stack",
            Tool::Gdb => "gdb",
        }
    }

    fn args(self, pid: u32) -> Vec<String> {
        let pid = pid.to_string();
        match self {
            Tool::EuStack => vec!["-p".into(), pid],
            Tool::Gdb => [
                "-p",
                &pid,
                "-batch",
                "-nx",
                "-ex",
                "set pagination off",
                "-ex",
                "thread apply all bt",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

pub(crate) fn stacks() -> Result<Vec<ThreadStack>, String> {
    let tool = choose_tool()?;
    check_ptrace_policy()?;
    let output = run_helper(tool)?;
    let stacks = match tool {
        Tool::EuStack => parse_eu_stack(&output),
        Tool::Gdb => parse_gdb(&output),
    };
    if stacks.is_empty() {
        let said = output.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
        return Err(format!(
            "{} could not read the threads (seccomp or a container may forbid ptrace): {said}",
            tool.program()
        ));
    }
    Ok(stacks)
}

fn choose_tool() -> Result<Tool, String> {
    let on_path = |tool: Tool| which(tool.program()).then_some(tool);
    match std::env::var(STACKS_TOOL_ENV).ok().as_deref() {
        Some("gdb") => on_path(Tool::Gdb),
        Some("eu-stack") => on_path(Tool::EuStack),
        _ => on_path(Tool::EuStack).or_else(|| on_path(Tool::Gdb)),
    }
    .ok_or_else(|| {
        "stacks() needs eu-stack (package elfutils) or gdb on the PATH of the worker; \
         neither was found. Install one (e.g. `apt-get install elfutils`) and try again"
            .to_owned()
    })
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// Refuses early, with the reason, when the kernel will not allow the helper in.
fn check_ptrace_policy() -> Result<(), String> {
    let scope = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()
        .and_then(|text| text.trim().parse::<u8>().ok());
    let root = nix::unistd::geteuid().is_root();
    match scope {
        Some(3) => Err(
            "the kernel forbids ptrace for everyone (kernel.yama.ptrace_scope = 3), \
                        and stacks() needs it; only a reboot can lower that setting"
                .to_owned(),
        ),
        Some(2) if !root => Err("kernel.yama.ptrace_scope = 2 allows ptrace only with \
                                 CAP_SYS_PTRACE, which this worker lacks; stacks() needs it \
                                 (run the worker as root, or lower the setting with \
                                 `sysctl kernel.yama.ptrace_scope=1`)"
            .to_owned()),
        _ => Ok(()),
    }
}

/// Runs the helper against this process and returns what it printed.
fn run_helper(tool: Tool) -> Result<String, String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("read _ && exec \"$0\" \"$@\" 2>&1")
        .arg(tool.program())
        .args(tool.args(std::process::id()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", tool.program()))?;
    allow_tracer(child.id());
    let started = child.stdin.take().map(|mut go| go.write_all(b"go\n"));
    let output = started
        .ok_or_else(|| "the helper has no stdin".to_owned())
        .and_then(|written| {
            written.map_err(|err| format!("cannot start {}: {err}", tool.program()))
        })
        .and_then(|()| read_until(child.stdout.take(), Instant::now() + STACKS_TIMEOUT));
    if output.is_err() {
        let _ = child.kill();
    }
    // The host may reap children itself (a SIGCHLD handler): then there is nothing
    // left to wait for, which is fine.
    let _ = child.wait();
    allow_tracer(0);
    output.map_err(|err| format!("{}: {err}", tool.program()))
}

/// Names `pid` as the process allowed to ptrace us (0: nobody beyond the default).
fn allow_tracer(pid: u32) {
    // SAFETY: prctl(PR_SET_PTRACER) takes two integers and touches no memory of ours.
    // It fails harmlessly (EINVAL) on kernels without Yama.
    unsafe {
        nix::libc::prctl(
            nix::libc::PR_SET_PTRACER,
            pid as nix::libc::c_ulong,
            0,
            0,
            0,
        )
    };
}

fn read_until(
    stdout: Option<std::process::ChildStdout>,
    deadline: Instant,
) -> Result<String, String> {
    let mut stdout = stdout.ok_or("no output pipe")?;
    let mut output = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        wait_for(stdout.as_fd(), PollFlags::POLLIN, deadline)
            .map_err(|_| format!("no answer within {}s", STACKS_TIMEOUT.as_secs()))?;
        match stdout.read(&mut chunk) {
            Ok(0) => return Ok(String::from_utf8_lossy(&output).into_owned()),
            Ok(n) => output.extend_from_slice(&chunk[..n]),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err.to_string()),
        }
    }
}

/// `TID 123:` then `#0  0x00007f... function` lines.
fn parse_eu_stack(output: &str) -> Vec<ThreadStack> {
    let mut stacks: Vec<ThreadStack> = Vec::new();
    for line in output.lines() {
        if let Some(tid) = line
            .strip_prefix("TID ")
            .and_then(|rest| rest.trim_end_matches(':').parse().ok())
        {
            stacks.push(new_stack(tid));
        } else if let (Some(stack), Some(frame)) = (stacks.last_mut(), line.strip_prefix('#')) {
            let mut words = frame.split_whitespace().skip(1);
            let first = words.next().unwrap_or("??");
            let function = if first.starts_with("0x") {
                words.next().unwrap_or("??")
            } else {
                first
            };
            stack.frames.push(clean_symbol(function));
        }
    }
    stacks
}

/// `Thread 2 (Thread 0x... (LWP 123) "name"):` then `#1  0x... in function (...) at ...`.
fn parse_gdb(output: &str) -> Vec<ThreadStack> {
    let mut stacks: Vec<ThreadStack> = Vec::new();
    for line in output.lines() {
        let lwp = line
            .starts_with("Thread ")
            .then(|| {
                line.split("(LWP ")
                    .nth(1)?
                    .split(')')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .flatten();
        if let Some(tid) = lwp {
            stacks.push(new_stack(tid));
        } else if let (Some(stack), Some(frame)) = (stacks.last_mut(), line.strip_prefix('#')) {
            let frame = frame
                .split_once(char::is_whitespace)
                .map_or("", |(_, rest)| rest)
                .trim();
            let frame = frame
                .split_once(" in ")
                .filter(|_| frame.starts_with("0x"))
                .map_or(frame, |(_, f)| f);
            let function = frame.split(" (").next().unwrap_or(frame);
            stack.frames.push(clean_symbol(function));
        }
    }
    stacks
}

fn new_stack(tid: u32) -> ThreadStack {
    let name = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .map(|name| name.trim_end().to_owned())
        .unwrap_or_default();
    ThreadStack {
        tid,
        name,
        frames: Vec::new(),
    }
}

/// Escapes that legacy Rust symbols keep after a helper demangled them.
const LEGACY_ESCAPES: &[(&str, &str)] = &[
    ("$u7b$", "{"),
    ("$u7d$", "}"),
    ("$LT$", "<"),
    ("$GT$", ">"),
    ("$RF$", "&"),
    ("$BP$", "*"),
    ("$C$", ","),
    ("$u20$", " "),
    ("$u27$", "'"),
    ("$u5b$", "["),
    ("$u5d$", "]"),
];

/// Demangles Rust symbols and drops the `::h0123456789abcdef` hash suffix.
fn clean_symbol(symbol: &str) -> String {
    let mut demangled = format!("{:#}", rustc_demangle::demangle(symbol));
    for (escape, text) in LEGACY_ESCAPES {
        demangled = demangled.replace(escape, text);
    }
    let demangled = demangled.replace("::_{", "::{");
    match demangled.rsplit_once("::h") {
        Some((path, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            path.to_owned()
        }
        _ => demangled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_helpers_formats() {
        let eu = "PID 9 - process\nTID 9:\n#0  0x00007f76 __poll\n\
                  #1  0x0000556a http_worker::server::serve::hd8ef5e9de954a59c\n";
        let stacks = parse_eu_stack(eu);
        assert_eq!(stacks[0].tid, 9);
        assert_eq!(stacks[0].frames, ["__poll", "http_worker::server::serve"]);
        assert_eq!(
            clean_symbol("std::rt::lang_start::_$u7b$$u7b$closure$u7d$$u7d$::h0123456789abcdef"),
            "std::rt::lang_start::{{closure}}"
        );

        let gdb = "Thread 2 (Thread 0x7f0e (LWP 1508) \"http-3\"):\n#0  syscall () at x.S:38\n\
                   #1  0x0000558b in http_worker::server::work::he39fb281bba22226 ()\n";
        let stacks = parse_gdb(gdb);
        assert_eq!(stacks[0].tid, 1508);
        assert_eq!(stacks[0].frames, ["syscall", "http_worker::server::work"]);
    }
}
