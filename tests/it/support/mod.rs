//! Helpers shared by the integration tests: start real workers, run the real
//! `attach` binary, and bound every wait so a bug fails a test instead of hanging.

pub mod load;
pub mod named;
pub mod old_kernel;
pub mod pod;
pub mod pty;
pub mod raw;
pub mod tempdir;
mod worker;

pub use worker::Worker;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use attach_protocol::ProcStatus;
use nix::sys::signal::Signal;

/// The lines `output` (a child's stdout or stderr) writes, as they come, read on a
/// thread of their own so that a wait for one can have a deadline (`recv_timeout`).
pub fn lines_of(output: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(20);

/// A number no other call in this process returns (for unique file names).
pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub use attach_examples::workspace_bin::workspace_bin;

/// Threads of `pid` that do not block SIGUSR1, but the agent's own, as `name (tid)`
/// (the agent's warnings name them the same way).
pub fn exposed_threads(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task list")
        .flatten()
        .filter_map(|task| {
            let status = ProcStatus::read(task.path().join("status")).ok()?;
            let blocked = status.has_signal("SigBlk", Signal::SIGUSR1 as i32)?;
            let name = status.name()?.to_owned();
            let tid = task.file_name().to_string_lossy().into_owned();
            (!blocked && name != "attach-agent").then(|| format!("{name} ({tid})"))
        })
        .collect()
}

pub fn attach_bin() -> PathBuf {
    workspace_bin("attach")
}

/// True if `frame` (one of `stacks()`'s frames) is in the function `path`, whatever
/// generic arguments the symbol names (`serve::<F>` under v0 mangling, `serve` under
/// the legacy one).
pub fn frame_in(frame: &serde_json::Value, path: &str) -> bool {
    let Some(rest) = frame["function"]
        .as_str()
        .and_then(|f| f.strip_prefix(path))
    else {
        return false;
    };
    let Some(generics) = rest.strip_prefix("::<") else {
        return rest.is_empty();
    };
    // The generic arguments must close the name: `serve::<F>::{closure#0}` is not `serve`.
    let mut depth = 1;
    for (at, c) in generics.char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 1 => return generics[at + 1..].is_empty(),
            '>' => depth -= 1,
            _ => {}
        }
    }
    false
}

/// Waits up to `WAIT` for `child`; kills it and returns None on timeout.
pub fn wait_child(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// What an `attach` run printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `attach args...` with `stdin` piped in, bounded by `WAIT`.
pub fn attach(args: &[&str], stdin: &str) -> Run {
    let mut command = Command::new(attach_bin());
    command.args(args);
    run_bounded(command, stdin)
}

/// Runs `attach args...` as `uid` (group `uid` too), as `attach` does.
pub fn attach_as(uid: u32, args: &[&str]) -> Run {
    let mut command = Command::new(attach_bin());
    command.args(args).uid(uid).gid(uid);
    run_bounded(command, "")
}

/// Runs `command` with `stdin` piped in, bounded by `WAIT`.
pub fn run_bounded(mut command: Command, stdin: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = receiver
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{command:?} did not finish within {WAIT:?}"))
        .expect("the output of the command");
    let _ = writer.join();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `attach <pid> -e <expr>`.
pub fn eval(pid: u32, expr: &str) -> Run {
    attach(&[&pid.to_string(), "-e", expr], "")
}

/// An `attach` session held open by the test: lines go in through stdin.
pub struct OpenSession {
    pub child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl OpenSession {
    /// Starts piped `attach <pid>` and proves the session is open with `1+1`.
    pub fn start(pid: u32) -> OpenSession {
        let mut child = Command::new(attach_bin())
            .arg(pid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start attach");
        let stdin = child.stdin.take();
        let lines = lines_of(child.stdout.take().expect("piped stdout"));
        let mut session = OpenSession {
            child,
            stdin,
            lines,
        };
        assert_eq!(
            session.ask("1 + 1").as_deref(),
            Some("2"),
            "session did not open"
        );
        session
    }

    /// Sends one line and waits for one line of output.
    pub fn ask(&mut self, line: &str) -> Option<String> {
        self.send(line)?;
        self.lines.recv_timeout(WAIT).ok()
    }

    /// Sends one line without waiting for its output.
    pub fn send(&mut self, line: &str) -> Option<()> {
        let stdin = self.stdin.as_mut()?;
        writeln!(stdin, "{line}").ok()?;
        stdin.flush().ok()
    }

    /// Closes stdin (a clean end of the session) and waits for exit.
    pub fn finish(mut self) -> Option<ExitStatus> {
        self.stdin.take();
        wait_child(&mut self.child)
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
