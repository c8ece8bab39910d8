//! The async host: an axum service with the agent installed before the runtime.
//! Runtime threads block the doorbell, a SIGUSR1 storm under load costs 0 failed
//! requests and 0 EINTR, tasks show in `inflight()`, `runtime()` reports, SIGTERM
//! drains. Installing late is warned about.

use std::time::{Duration, Instant};

use crate::support::load::Load;
use crate::support::{eval, exposed_threads, Worker, WAIT};
use attach_examples::http_client;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

#[test]
fn runtime_threads_block_the_doorbell_and_a_storm_under_load_costs_nothing() {
    let (worker, addr) = Worker::listening("axum-worker", &["--workers", "2"]);
    let load = Load::start(addr, 4, &["/", "/sleep?ms=3", "/"]);
    load.wait_for_done(50);
    assert_eq!(
        exposed_threads(worker.pid),
        Vec::<String>::new(),
        "every runtime thread blocks SIGUSR1"
    );
    let pid = Pid::from_raw(worker.pid as i32);
    for _ in 0..20_000 {
        kill(pid, Signal::SIGUSR1).unwrap();
    }
    for _ in 0..5 {
        let run = eval(worker.pid, "requests_served");
        assert_eq!(run.code, 0, "{run:?}");
    }
    let before = load.done();
    load.wait_for_done(before + 50);
    let outcome = load.finish();
    assert_eq!((outcome.failed, outcome.refused), (0, 0), "{outcome:?}");
    assert_eq!(eval(worker.pid, "eintr_seen").stdout.trim(), "0");
    let runtime = eval(worker.pid, "runtime().workers");
    assert_eq!(runtime.stdout.trim(), "2", "{runtime:?}");
    let per_worker = eval(worker.pid, "runtime().per_worker.len()");
    assert_eq!(per_worker.stdout.trim(), "2", "{per_worker:?}");
}

#[test]
fn async_requests_show_in_inflight_and_sigterm_lets_them_finish() {
    let (mut worker, addr) = Worker::listening("axum-worker", &[]);
    let slow = std::thread::spawn(move || {
        http_client::get(addr, "/sleep?ms=1500", Duration::from_secs(10))
    });
    let deadline = Instant::now() + WAIT;
    loop {
        let run = eval(
            worker.pid,
            "inflight().filter(|r| r.kind == \"task\").map(|r| r.label)",
        );
        if run.stdout.contains("GET /sleep") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the request never showed: {run:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.signal(Signal::SIGTERM);
    let response = slow
        .join()
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status, 200);
    assert!(worker.wait_exit().success(), "graceful exit 0");
}

#[test]
fn installing_the_agent_after_the_runtime_is_warned_about_by_thread_name() {
    let worker = Worker::start_with_env(
        crate::support::workspace_bin("axum-worker"),
        &["--listen", "127.0.0.1:0", "--late-agent"],
        &[("RUST_LOG", "attach=warn")],
    );
    let mut worker = worker;
    let warning = worker.wait_log("do not block SIGUSR1");
    let exposed = exposed_threads(worker.pid);
    assert!(!exposed.is_empty());
    // By tid: a thread still being started may carry its parent's name when the agent
    // looks and its own (`tokio-rt-worker`) a moment later.
    for thread in &exposed {
        let tid = thread
            .rsplit_once(' ')
            .map_or(thread.as_str(), |(_, tid)| tid);
        assert!(
            warning.contains(tid),
            "every exposed thread is named ({thread}): {warning}"
        );
    }
}
