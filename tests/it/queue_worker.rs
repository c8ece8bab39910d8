//! The fork-per-job queue worker: waitpid retried through EINTR, warm and cold
//! shutdown, and the current job visible through attach.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{eval, workspace_bin, Worker, WAIT};
use nix::sys::signal::Signal;

struct QueueDir(PathBuf);

impl QueueDir {
    fn new(jobs: &[(&str, &str)]) -> QueueDir {
        let dir = std::env::temp_dir().join(format!(
            "attach-queue-{}-{}",
            std::process::id(),
            crate::support::unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, spec) in jobs {
            std::fs::write(dir.join(format!("{name}.job")), spec).unwrap();
        }
        QueueDir(dir)
    }

    fn has(&self, place: &str, file: &str) -> bool {
        self.0.join(place).join(file).exists()
    }
}

impl Drop for QueueDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(queue: &QueueDir) -> Worker {
    let dir = queue.0.to_str().unwrap();
    let worker = Worker::start(
        workspace_bin("queue-worker"),
        &["--queue", dir, "--poll-ms", "20"],
    );
    assert_eq!(worker.first_line, "ready");
    worker
}

/// Waits until the worker reports a running job; returns its child pid.
fn running_child(worker: &Worker) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        let run = eval(worker.pid, "current_job.child_pid");
        if let Ok(pid) = run.stdout.trim().parse() {
            return pid;
        }
        assert!(Instant::now() < deadline, "no job started: {run:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn number(worker: &Worker, expr: &str) -> u64 {
    let run = eval(worker.pid, expr);
    run.stdout
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{expr}: {run:?}"))
}

fn is_process(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn a_waitpid_interrupted_by_signals_is_retried_and_the_job_completes() {
    let queue = QueueDir::new(&[("a", "sleep 1500")]);
    let mut worker = start(&queue);
    let child = running_child(&worker);
    assert!(is_process(child), "the child pid shown is a real process");
    let run = eval(worker.pid, "current_job");
    assert!(
        run.stdout.contains("\"job\": \"a.job\"") && run.stdout.contains("running_ms"),
        "{run:?}"
    );
    for _ in 0..5 {
        worker.signal(Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + WAIT;
    while !queue.has("done", "a.job") {
        assert!(Instant::now() < deadline, "the job never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        number(&worker, "eintr_retries") >= 1,
        "signals interrupted waitpid"
    );
    assert_eq!(number(&worker, "jobs_done"), 1);
    worker.signal(Signal::SIGTERM);
    assert!(worker.wait_exit().success());
}

#[test]
fn one_sigterm_is_a_warm_shutdown() {
    let queue = QueueDir::new(&[("a", "sleep 600"), ("b", "ok")]);
    let mut worker = start(&queue);
    running_child(&worker);
    worker.signal(Signal::SIGTERM);
    assert!(worker.wait_exit().success());
    assert!(queue.has("done", "a.job"), "the current job finished");
    assert!(queue.0.join("b.job").exists(), "no new job started");
}

#[test]
fn two_sigterms_are_a_cold_shutdown_and_the_job_is_filed_as_failed() {
    let queue = QueueDir::new(&[("a", "sleep 60000")]);
    let mut worker = start(&queue);
    let child = running_child(&worker);
    worker.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(50));
    worker.signal(Signal::SIGTERM);
    assert!(worker.wait_exit().success());
    assert!(
        queue.has("failed", "a.job"),
        "the job is recorded, not lost"
    );
    let reason = std::fs::read_to_string(queue.0.join("failed").join("a.reason")).unwrap();
    assert!(reason.contains("cold shutdown"), "{reason}");
    assert!(!is_process(child), "the job's process was killed");
}

#[test]
fn a_failing_job_is_filed_with_its_reason() {
    let queue = QueueDir::new(&[("a", "fail"), ("b", "ok")]);
    let mut worker = start(&queue);
    let deadline = Instant::now() + WAIT;
    while !queue.has("done", "b.job") {
        assert!(Instant::now() < deadline, "the queue did not drain");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(queue.has("failed", "a.job"));
    assert_eq!(number(&worker, "jobs_failed"), 1);
    worker.signal(Signal::SIGTERM);
    assert!(worker.wait_exit().success());
}
