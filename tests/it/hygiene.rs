//! The client looks after itself: a planted history file is not followed, a closed
//! stdout ends attach at once, a standard descriptor closed at start is /dev/null
//! (never the next file attach opens), and a worker that dies while attach waits for
//! its own input is noticed within a second, with status 2.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::support::pty::Pty;
use crate::support::tempdir::TempDir;
use crate::support::{attach_bin, wait_child, Worker, WAIT};

/// Runs the shell with its state in `state`, types `6 * 7`, leaves; returns the
/// screen up to the answer.
fn shell_session(worker: &Worker, state: &TempDir) -> String {
    let mut pty = Pty::spawn(
        &attach_bin(),
        &[&worker.pid.to_string()],
        &[("XDG_STATE_HOME", state.env())],
    );
    let mut screen = pty.expect(")> ");
    pty.send("6 * 7\r");
    screen.push_str(&pty.expect("42"));
    pty.send("\x04");
    assert!(pty.wait_exit().success(), "{screen}");
    screen
}

/// A file someone else could have left for us, holding text that must survive.
fn victim(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.path().join("victim");
    std::fs::write(&path, "keep me\n").unwrap();
    path
}

fn assert_refused(screen: &str, why: &str, untouched: &Path) {
    assert!(screen.contains("history is off for this run"), "{screen}");
    assert!(screen.contains(why), "{why:?} not in {screen}");
    assert_eq!(std::fs::read_to_string(untouched).unwrap(), "keep me\n");
}

/// Starts `attach args...` with every stream piped.
fn start(args: &[&str]) -> Child {
    Command::new(attach_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (bounded) for `child` to exit; its status code and what it said on stderr.
fn ended(child: &mut Child) -> (Option<i32>, String) {
    let status = wait_child(child).expect("attach exited in time");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).unwrap();
    }
    (status.code(), stderr)
}

#[test]
fn a_history_symlink_is_not_followed() {
    let worker = Worker::fixture(&[]);
    let state = TempDir::new("state");
    let elsewhere = TempDir::new("elsewhere");
    let target = victim(&elsewhere);
    std::fs::create_dir(state.path().join("attach")).unwrap();
    std::os::unix::fs::symlink(&target, state.path().join("attach/history")).unwrap();
    let screen = shell_session(&worker, &state);
    assert_refused(&screen, "is a symbolic link", &target);
}

#[test]
fn a_symlinked_history_directory_is_not_followed() {
    let worker = Worker::fixture(&[]);
    let state = TempDir::new("state");
    let elsewhere = TempDir::new("elsewhere");
    let target = victim(&elsewhere);
    std::fs::rename(&target, elsewhere.path().join("history")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), state.path().join("attach")).unwrap();
    let screen = shell_session(&worker, &state);
    assert_refused(
        &screen,
        "is a symbolic link",
        &elsewhere.path().join("history"),
    );
}

#[test]
fn a_history_file_of_another_user_or_open_to_others_is_not_used() {
    let worker = Worker::fixture(&[]);
    let state = TempDir::new("state");
    std::fs::create_dir(state.path().join("attach")).unwrap();
    let history = state.path().join("attach/history");
    std::fs::write(&history, "keep me\n").unwrap();
    std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o666)).unwrap();
    let screen = shell_session(&worker, &state);
    assert_refused(&screen, "writable by group or others (mode 666)", &history);

    std::fs::set_permissions(&history, std::fs::Permissions::from_mode(0o600)).unwrap();
    let other = if nix::unistd::geteuid().is_root() {
        65534
    } else {
        0
    };
    if std::os::unix::fs::chown(&history, Some(other), None).is_ok() {
        let screen = shell_session(&worker, &state);
        assert_refused(&screen, &format!("belongs to uid {other}"), &history);
    }
}

#[test]
fn watch_stops_as_soon_as_its_reader_goes_away() {
    let worker = Worker::fixture(&[]);
    let mut child = start(&[
        &worker.pid.to_string(),
        "--watch",
        "counter",
        "--interval",
        "2s",
    ]);
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    lines.read_line(&mut first).unwrap();
    assert!(first.starts_with("7 "), "{first:?}");
    // What `head -1` does: read, then close the pipe, long before the next sample.
    drop(lines);
    let closed = Instant::now();
    let (code, stderr) = ended(&mut child);
    eprintln!("watch left {:?} after its reader did", closed.elapsed());
    assert_eq!((code, stderr.as_str()), (Some(141), ""));
    assert_eq!(
        worker.leftover_fifos(),
        Vec::<String>::new(),
        "the session was closed"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let worker = Worker::fixture(&[]);
    let pid = worker.pid.to_string();
    for args in [&[pid.as_str(), "-e", "counter"][..], &["--version"]] {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let run = Command::new(attach_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        let ended = (run.status.code(), stderr.as_ref());
        assert_eq!(ended, (Some(141), ""), "attach {args:?}");
    }
}

#[test]
fn a_stdout_closed_at_start_is_dev_null_not_the_next_file_opened() {
    let worker = Worker::fixture(&[]);
    let mut command = Command::new(attach_bin());
    command
        .arg(worker.pid.to_string())
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the child only calls close(2), which is
    // async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::libc::close(1);
            Ok(())
        });
    }
    // Looked at once the session's reply FIFO is open and attach waits for stdin:
    // before that, a dynamic loader opens each library as the lowest free
    // descriptor, fd 1, for a moment.
    let mut child = command.spawn().unwrap();
    let fds = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let deadline = Instant::now() + WAIT;
    while !holds_reply_fifo(&fds) {
        assert!(Instant::now() < deadline, "attach never opened its session");
        std::thread::sleep(Duration::from_millis(1));
    }
    let stdout = std::fs::read_link(fds.join("1"));
    assert_eq!(stdout.unwrap(), Path::new("/dev/null"));
    let mut input = child.stdin.take().unwrap();
    writeln!(input, "counter").unwrap();
    drop(input);
    let (code, stderr) = ended(&mut child);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    assert_eq!(worker.leftover_fifos(), Vec::<String>::new());
}

/// True when a descriptor in `fds` (a `/proc/PID/fd`) is a session's reply FIFO.
fn holds_reply_fifo(fds: &Path) -> bool {
    std::fs::read_dir(fds).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().ends_with(".reply"))
        })
    })
}

#[test]
fn a_piped_client_waiting_for_input_notices_the_worker_exit() {
    let mut worker = Worker::fixture(&[]);
    let mut child = start(&[&worker.pid.to_string()]);
    // Like `< <(echo 1 + 1; sleep 30)`: one command, then stdin stays open and
    // says nothing.
    let mut input = child.stdin.take().unwrap();
    writeln!(input, "1 + 1").unwrap();
    let mut answer = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut answer)
        .unwrap();
    assert_eq!(answer, "2\n");
    let killed = Instant::now();
    worker.signal(Signal::SIGKILL);
    worker.wait_exit();
    let (code, stderr) = ended(&mut child);
    eprintln!(
        "piped attach left {:?} after the worker died",
        killed.elapsed()
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("process {} exited", worker.pid)),
        "{stderr}"
    );
    assert_eq!(worker.leftover_fifos(), Vec::<String>::new());
}

#[test]
fn an_idle_shell_notices_the_worker_exit_and_restores_the_terminal() {
    let mut worker = Worker::fixture(&[]);
    let state = TempDir::new("state");
    let mut pty = Pty::spawn(
        &attach_bin(),
        &[&worker.pid.to_string()],
        &[("XDG_STATE_HOME", state.env())],
    );
    pty.expect(")> ");
    pty.send("1 +");
    pty.expect("1 +");
    assert!(pty.is_raw(), "the line editor owns the terminal");
    let killed = Instant::now();
    worker.signal(Signal::SIGKILL);
    worker.wait_exit();
    pty.expect(&format!("process {} exited", worker.pid));
    assert_eq!(pty.wait_exit().code(), Some(2));
    assert!(!pty.is_raw(), "the terminal is back in its normal mode");
    eprintln!(
        "the shell left {:?} after the worker died",
        killed.elapsed()
    );
    assert_eq!(worker.leftover_fifos(), Vec::<String>::new());
}
