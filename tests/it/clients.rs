//! Clients that die, collide or outlive their target.

use crate::support::{eval, OpenSession, Worker};
use nix::sys::signal::Signal;

#[test]
fn a_client_killed_mid_session_does_not_stop_the_next_attach() {
    let (worker, _) = Worker::http(1);
    let mut session = OpenSession::start(worker.pid);
    session.child.kill().unwrap();
    session.child.wait().unwrap();
    assert!(
        !worker.leftover_fifos().is_empty(),
        "a killed client leaves its FIFOs"
    );
    let run = eval(worker.pid, "40 + 2");
    assert_eq!((run.code, run.stdout.trim()), (0, "42"), "{run:?}");
    assert_eq!(
        worker.leftover_fifos(),
        Vec::<String>::new(),
        "stale FIFOs were cleaned up"
    );
}

#[test]
fn a_second_client_is_told_the_agent_is_busy_and_neither_hangs() {
    let (worker, _) = Worker::http(1);
    let mut first = OpenSession::start(worker.pid);
    let second = eval(worker.pid, "1");
    assert_eq!(second.code, 2, "{second:?}");
    assert!(
        second.stderr.contains("another attach session is open"),
        "{second:?}"
    );
    assert_eq!(
        first.ask("let y = 5; y").as_deref(),
        Some("5"),
        "the first session is unharmed"
    );
    assert!(first.finish().expect("first client exits").success());
    assert_eq!(
        eval(worker.pid, "3").stdout.trim(),
        "3",
        "served once the first left"
    );
}

#[test]
fn a_worker_exiting_mid_session_is_reported() {
    let (mut worker, _) = Worker::http(1);
    let mut session = OpenSession::start(worker.pid);
    worker.signal(Signal::SIGKILL);
    worker.wait_exit();
    assert_eq!(session.ask("1"), None, "no answer from a dead worker");
    let status =
        crate::support::wait_child(&mut session.child).expect("the client exits by itself");
    assert_eq!(status.code(), Some(2));
}
