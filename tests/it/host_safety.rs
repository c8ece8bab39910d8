//! The host comes first: signal storms, processes without an agent, panicking host
//! callbacks, a doorbell the host already uses.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{attach, eval, Worker};
use attach_examples::http_client;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn a_sigusr1_storm_during_requests_fails_no_request_and_causes_no_eintr() {
    let (mut worker, addr) = Worker::http(4);
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (failed, done) = (failed.clone(), done.clone());
            std::thread::spawn(move || {
                for _ in 0..40 {
                    match http_client::get(addr, "/sleep?ms=3", Duration::from_secs(10)) {
                        Ok(response) if response.status == 200 => {
                            done.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let pid = Pid::from_raw(worker.pid as i32);
    let mut sent = 0;
    while clients.iter().any(|c| !c.is_finished()) || sent < 5000 {
        kill(pid, Signal::SIGUSR1).expect("the worker is alive");
        sent += 1;
        if sent % 500 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for client in clients {
        client.join().unwrap();
    }
    assert!(sent >= 5000);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "failed requests");
    assert_eq!(done.load(Ordering::Relaxed), 160);
    assert!(worker.is_running());
    let run = eval(worker.pid, "eintr_seen");
    assert_eq!(run.stdout.trim(), "0", "guarded code saw EINTR: {run:?}");
}

#[test]
fn a_process_without_the_agent_is_refused_and_left_alive() {
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let run = eval(sleeper.id(), "1");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("has no attach agent; nothing was sent"),
        "{run:?}"
    );
    assert!(
        matches!(sleeper.try_wait(), Ok(None)),
        "the process must still be alive"
    );
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
}

#[test]
fn a_missing_process_is_reported_with_a_hint() {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let run = eval(pid, "1");
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("no process with pid {pid}")),
        "{run:?}"
    );
}

#[test]
fn panics_in_host_callbacks_become_errors_and_the_host_lives_on() {
    let mut worker = Worker::fixture(&[]);
    let run = eval(worker.pid, "boom()");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("boom went the host function"),
        "{run:?}"
    );
    let run = eval(worker.pid, "explode");
    assert!(run.stderr.contains("getter exploded"), "{run:?}");
    assert_eq!(eval(worker.pid, "counter").stdout.trim(), "7");
    assert!(worker.is_running());
    assert_eq!(
        worker.stderr_after_kill(),
        "",
        "contained panics must not reach the host's stderr"
    );
}

#[test]
fn a_lock_held_by_the_host_reads_as_busy_instead_of_hanging() {
    let worker = Worker::fixture(&[]);
    let run = attach(
        &[&worker.pid.to_string()],
        "hold_lock(3000)\nguarded_list\n1 + 1\n",
    );
    assert!(
        run.stderr.starts_with("busy")
            && run.stderr.contains("`guarded_list` is locked by the host"),
        "{run:?}"
    );
    assert_eq!(run.stdout.trim(), "2");
}

#[test]
fn the_agent_refuses_a_doorbell_the_host_already_handles() {
    let worker = Worker::start(
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker")),
        &["--signal", "SIGUSR2", "--occupy-signal"],
    );
    assert!(
        worker.first_line.contains("SIGUSR2 already has a handler"),
        "{}",
        worker.first_line
    );
}

#[test]
fn another_doorbell_signal_works_with_attach_signal() {
    let mut worker = Worker::fixture(&["--signal", "SIGUSR2"]);
    let run = attach(
        &[
            &worker.pid.to_string(),
            "--signal",
            "usr2",
            "-e",
            "counter + 1",
        ],
        "",
    );
    assert_eq!(run.stdout.trim(), "8", "{run:?}");
    let run = eval(worker.pid, "counter + 2");
    assert_eq!(
        run.stdout.trim(),
        "9",
        "attach uses the signal the agent announces: {run:?}"
    );
    let run = attach(
        &[&worker.pid.to_string(), "--signal", "usr1", "-e", "1"],
        "",
    );
    assert_eq!(
        run.code, 2,
        "the agent listens for SIGUSR2, so attach must refuse: {run:?}"
    );
    assert!(
        run.stderr.contains("listens for SIGUSR2, not SIGUSR1"),
        "{run:?}"
    );
    assert!(worker.is_running());
}

#[test]
fn attach_agent_off_keeps_the_agent_out_and_attach_refuses_without_harm() {
    let mut worker = Worker::start_with_env(
        std::path::PathBuf::from(env!("CARGO_BIN_EXE_fixture-worker")),
        &[],
        &[("ATTACH_AGENT", "off")],
    );
    assert_eq!(worker.first_line, "ready");
    let run = eval(worker.pid, "1");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("has no attach agent"), "{run:?}");
    assert!(worker.is_running());
}
