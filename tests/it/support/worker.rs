//! `Worker`: a real worker process started for a test, read through its first line,
//! its stderr and `/proc`, and killed with its process group on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use attach_protocol::ProcStatus;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{lines_of, wait_child, workspace_bin, WAIT};

/// A real worker process, killed and reaped on drop.
pub struct Worker {
    pub child: Child,
    pub pid: u32,
    pub first_line: String,
    /// The worker's stderr lines, when started with logging.
    log: Option<mpsc::Receiver<String>>,
    /// Log lines already taken from `log`.
    pub log_seen: Vec<String>,
}

impl Worker {
    /// Starts `program` and waits for its first stdout line.
    pub fn start(program: PathBuf, args: &[&str]) -> Worker {
        Worker::start_with_env(program, args, &[])
    }

    /// Starts `program` with extra environment variables. Logging is off unless `env`
    /// sets `RUST_LOG`; then stderr is collected for `wait_log`.
    pub fn start_with_env(program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Worker {
        Worker::spawn(program, args, env, None)
    }

    /// Starts `program` as `uid` (group `uid` too), with extra environment variables.
    pub fn start_as(uid: u32, program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Worker {
        Worker::spawn(program, args, env, Some(uid))
    }

    fn spawn(program: PathBuf, args: &[&str], env: &[(&str, &str)], uid: Option<u32>) -> Worker {
        let filter = env
            .iter()
            .find_map(|(key, value)| (*key == "RUST_LOG").then_some(*value))
            .unwrap_or("off");
        let mut command = Command::new(&program);
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        let mut child = command
            .args(args)
            .env("RUST_LOG", filter)
            .envs(env.iter().copied())
            // Its own process group, so that drop also ends any children it started.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = sender.send(first);
            // Keep draining so the worker never blocks on a full stdout pipe.
            for _ in lines {}
        });
        let first_line = receiver
            .recv_timeout(WAIT)
            .expect("worker printed its first line in time");
        let pid = child.id();
        let log = (filter != "off").then(|| lines_of(child.stderr.take().expect("piped stderr")));
        Worker {
            child,
            pid,
            first_line,
            log,
            log_seen: Vec::new(),
        }
    }

    /// The fixture worker with the agent's logs (audit included) on stderr.
    pub fn fixture_logged(args: &[&str]) -> Worker {
        let worker = Worker::start_with_env(
            PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker")),
            args,
            &[("RUST_LOG", "attach=debug")],
        );
        assert_eq!(worker.first_line, "ready");
        worker
    }

    /// Waits for a log line containing `needle` that was not seen before.
    pub fn wait_log(&mut self, needle: &str) -> String {
        let log = self.log.as_ref().expect("worker started with logging");
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match log.recv_timeout(left) {
                Ok(line) => {
                    self.log_seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line with {needle:?} within {WAIT:?}; seen:\n{}",
                    self.log_seen.join("\n")
                ),
            }
        }
    }

    /// Every log line so far, without waiting for more.
    pub fn log_so_far(&mut self) -> Vec<String> {
        if let Some(log) = &self.log {
            self.log_seen.extend(log.try_iter());
        }
        self.log_seen.clone()
    }

    /// `/proc/<pid>/status` field `key` (e.g. `VmRSS`) as a number (kB or count).
    pub fn status_number(&self, key: &str) -> u64 {
        proc_number(&format!("/proc/{}/status", self.pid), key)
    }

    /// The tid of the thread named `name`.
    pub fn thread_named(&self, name: &str) -> u32 {
        std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .expect("task list")
            .flatten()
            .find_map(|task| {
                let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
                (comm.trim() == name).then(|| task.file_name().to_str()?.parse().ok())?
            })
            .unwrap_or_else(|| panic!("no thread named {name}"))
    }

    /// A field of one thread's `status` (e.g. `voluntary_ctxt_switches`).
    pub fn thread_status_number(&self, tid: u32, key: &str) -> u64 {
        proc_number(&format!("/proc/{}/task/{tid}/status", self.pid), key)
    }

    /// The example HTTP worker on a free loopback port.
    pub fn http(threads: usize) -> (Worker, SocketAddr) {
        let threads = threads.to_string();
        Worker::listening("http-worker", &["--threads", &threads])
    }

    /// A workspace server binary on a free loopback port (`listening on` first).
    pub fn listening(binary: &str, args: &[&str]) -> (Worker, SocketAddr) {
        Worker::listening_with_env(binary, args, &[])
    }

    /// `listening`, with extra environment variables.
    pub fn listening_with_env(
        binary: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> (Worker, SocketAddr) {
        let mut all = vec!["--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let worker = Worker::start_with_env(workspace_bin(binary), &all, env);
        let addr = worker
            .first_line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {:?}", worker.first_line));
        (worker, addr)
    }

    /// The fixture worker of this test crate.
    pub fn fixture(args: &[&str]) -> Worker {
        let worker = Worker::start(PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker")), args);
        assert_eq!(worker.first_line, "ready");
        worker
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid as i32), signal).expect("signal the worker");
    }

    /// Kills the worker and returns everything it wrote to stderr.
    pub fn stderr_after_kill(&mut self) -> String {
        let _ = self.child.kill();
        self.child.wait().expect("reap the worker");
        let mut stderr = String::new();
        if let Some(pipe) = self.child.stderr.as_mut() {
            std::io::Read::read_to_string(pipe, &mut stderr).expect("read stderr");
        }
        stderr
    }

    /// Waits for the worker to exit on its own.
    pub fn wait_exit(&mut self) -> ExitStatus {
        wait_child(&mut self.child).expect("worker exited in time")
    }

    /// Files in /tmp that belong to sessions with this worker.
    pub fn leftover_fifos(&self) -> Vec<String> {
        let prefix = format!("{}.", self.pid);
        std::fs::read_dir("/tmp")
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|entry| entry.file_name().into_string().ok())
                    .filter(|name| name.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        for name in self.leftover_fifos() {
            let _ = std::fs::remove_file(PathBuf::from("/tmp").join(name));
        }
    }
}

fn proc_number(path: &str, key: &str) -> u64 {
    ProcStatus::read(path)
        .unwrap_or_else(|err| panic!("{path}: {err}"))
        .number(key)
        .unwrap_or_else(|| panic!("no {key} in {path}"))
}
