//! Faults around the agent: clients that die mid-command or mid-reply, doorbell
//! storms with and without a session. The host lives on and the next attach works.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{attach_bin, eval, OpenSession, Worker};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

fn next_attach_works(worker: &mut Worker) {
    let run = eval(worker.pid, "40 + 2");
    assert_eq!((run.code, run.stdout.trim()), (0, "42"), "{run:?}");
    assert!(worker.is_running());
}

/// Starts a piped `attach`, hands it `commands`, waits `delay`, then SIGKILLs it.
fn kill_client_after(worker: &Worker, commands: &str, delay: Duration) {
    let mut client = Command::new(attach_bin())
        .arg(worker.pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    client
        .stdin
        .as_mut()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    std::thread::sleep(delay);
    client.kill().unwrap();
    client.wait().unwrap();
}

#[test]
fn a_client_killed_mid_command_leaves_the_agent_serving() {
    let mut worker = Worker::fixture(&[]);
    kill_client_after(&worker, "loop {}\n", Duration::from_millis(200));
    next_attach_works(&mut worker);
}

#[test]
fn a_client_killed_mid_reply_leaves_the_agent_serving() {
    let mut worker = Worker::fixture(&[]);
    let big = "let s = \"\"; s.pad(1000000, \"y\"); print(s); print(s); s\n";
    for delay_ms in [0, 2, 10, 40] {
        kill_client_after(&worker, big, Duration::from_millis(delay_ms));
        next_attach_works(&mut worker);
    }
}

#[test]
fn a_hundred_thousand_doorbells_without_a_client_cost_nothing_lasting() {
    let mut worker = Worker::fixture(&[]);
    next_attach_works(&mut worker);
    let agent = worker.thread_named("attach-agent");
    let rss_before = worker.status_number("VmRSS");
    let pid = Pid::from_raw(worker.pid as i32);
    for _ in 0..100_000 {
        kill(pid, Signal::SIGUSR1).expect("the worker is alive");
    }
    // Let the agent finish the last wake-ups, then watch it sleep.
    let switches = || worker.thread_status_number(agent, "voluntary_ctxt_switches");
    let mut settled = switches();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = switches();
        if now == settled {
            break;
        }
        settled = now;
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        switches() - settled <= 1,
        "the agent thread keeps waking up with nothing to do"
    );
    let grown_kib = worker.status_number("VmRSS").saturating_sub(rss_before);
    assert!(grown_kib < 1024, "RSS grew by {grown_kib} KiB");
    next_attach_works(&mut worker);
}

#[test]
fn a_doorbell_storm_during_a_session_loses_no_answer() {
    let worker = Worker::fixture(&[]);
    let mut session = OpenSession::start(worker.pid);
    let pid = Pid::from_raw(worker.pid as i32);
    let storm = std::thread::spawn(move || {
        for _ in 0..20_000 {
            if kill(pid, Signal::SIGUSR1).is_err() {
                break;
            }
        }
    });
    for i in 0..300 {
        let answer = session.ask(&format!("{i} * 2"));
        assert_eq!(answer, Some((i * 2).to_string()), "question {i}");
    }
    storm.join().unwrap();
    assert!(session.finish().expect("the client exits").success());
}
