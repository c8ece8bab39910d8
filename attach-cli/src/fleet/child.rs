//! Running one transport command with a deadline.
//!
//! The transport runs in its own process group, so that at the deadline (or on
//! Ctrl-C) the whole group is killed: `nsenter -p` and `unshare` fork, and a killed
//! parent would otherwise leave a child holding our pipes open. Output is read on
//! threads so a chatty transport never blocks on a full pipe.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::interrupt;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// How a transport run ended.
#[derive(Debug)]
pub enum End {
    Exited(ExitStatus),
    TimedOut(Duration),
    Interrupted,
    NotStarted(std::io::Error),
}

/// What one transport run printed, and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub end: End,
    pub stdout: String,
    pub stderr: String,
}

/// Starts `command` in its own process group with stdin closed and both outputs piped.
pub fn spawn(mut command: Command) -> std::io::Result<Child> {
    command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Kills the child's process group and reaps the child.
pub fn stop(child: &mut Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `command` to its end, or kills it at `timeout` or on Ctrl-C.
pub fn run(command: Command, timeout: Duration) -> Finished {
    let mut child = match spawn(command) {
        Ok(child) => child,
        Err(err) => {
            return Finished {
                end: End::NotStarted(err),
                stdout: String::new(),
                stderr: String::new(),
            }
        }
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let end = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break End::Exited(status);
        }
        if interrupt::requested() {
            break End::Interrupted;
        }
        if Instant::now() >= deadline {
            break End::TimedOut(timeout);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Whatever the ending, nothing of the group outlives this call.
    stop(&mut child);
    let collect = |output: mpsc::Receiver<String>| {
        output
            .recv_timeout(Duration::from_secs(1))
            .unwrap_or_default()
    };
    Finished {
        end,
        stdout: collect(stdout),
        stderr: collect(stderr),
    }
}

/// Reads a pipe to its end on a thread; the text arrives on the channel.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    if let Some(pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = BufReader::new(pipe).read_to_end(&mut bytes);
            let _ = sender.send(String::from_utf8_lossy(&bytes).into_owned());
        });
    }
    receiver
}

/// Sends each line of `pipe` on `sender` (tagged with `tag`), then `None` at its end.
pub fn lines<T: Copy + Send + 'static>(
    pipe: impl Read + Send + 'static,
    tag: T,
    sender: mpsc::Sender<(T, Option<String>)>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if sender.send((tag, Some(line))).is_err() {
                return;
            }
        }
        let _ = sender.send((tag, None));
    });
}
