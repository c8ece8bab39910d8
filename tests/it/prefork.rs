//! The prefork example under load: graceful SIGTERM, SIGHUP reload, fast SIGQUIT,
//! a killed worker replaced, and attach sessions to master and workers mid-load.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::load::Load;
use crate::support::{eval, Worker, WAIT};
use attach_examples::http_client;
use nix::sys::signal::Signal;

const PATHS: &[&str] = &["/", "/", "/sleep?ms=3", "/"];

/// A prefork master with a config file of its own.
struct Prefork {
    master: Worker,
    addr: SocketAddr,
    config: PathBuf,
}

impl Prefork {
    fn start(greeting: &str, extra: &[&str]) -> Prefork {
        let config = std::env::temp_dir().join(format!(
            "attach-prefork-{}-{}.conf",
            std::process::id(),
            crate::support::unique()
        ));
        std::fs::write(&config, format!("greeting = {greeting}\n")).unwrap();
        let config_arg = config.to_str().unwrap().to_owned();
        let mut args = vec!["--workers", "2", "--threads", "4", "--config", &config_arg];
        args.extend_from_slice(extra);
        let (master, addr) = Worker::listening("prefork", &args);
        let prefork = Prefork {
            master,
            addr,
            config,
        };
        prefork.wait_until(|p| p.worker_pids().len() == 2, "two workers");
        prefork
    }

    /// `expr` evaluated in the master, parsed as JSON.
    fn ask(&self, expr: &str) -> serde_json::Value {
        let run = eval(self.master.pid, expr);
        assert_eq!(run.code, 0, "{run:?}");
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|_| run.stdout.trim().into())
    }

    fn worker_pids(&self) -> Vec<u32> {
        let pids = self.ask("workers.filter(|w| w.state == \"running\").map(|w| w.pid)");
        serde_json::from_value(pids).unwrap()
    }

    fn wait_until(&self, done: impl Fn(&Prefork) -> bool, what: &str) {
        let deadline = Instant::now() + WAIT;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn greeting(&self) -> String {
        http_client::get(self.addr, "/", Duration::from_secs(5))
            .unwrap()
            .body
    }
}

impl Drop for Prefork {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config);
    }
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}

#[test]
fn sigterm_mid_load_finishes_every_accepted_request() {
    let mut prefork = Prefork::start("hello", &["--graceful-timeout-ms", "15000"]);
    let workers = prefork.worker_pids();
    let load = Load::start(prefork.addr, 4, PATHS);
    load.wait_for_done(100);
    let addr = prefork.addr;
    let slow: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                http_client::get(addr, "/sleep?ms=500", Duration::from_secs(10))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    load.stop_connecting();
    prefork.master.signal(Signal::SIGTERM);
    let status = prefork.master.wait_exit();
    assert!(status.success(), "master exit: {status:?}");
    for request in slow {
        let response = request
            .join()
            .unwrap()
            .expect("the slow request was answered");
        assert_eq!(response.status, 200);
    }
    let outcome = load.finish();
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert!(
        workers.iter().all(|&pid| !alive(pid)),
        "workers outlived the master"
    );
    assert!(TcpStream::connect(addr).is_err(), "nobody listens any more");
}

#[test]
fn sighup_mid_load_reloads_config_with_no_failed_request() {
    let prefork = Prefork::start("one", &[]);
    let old = prefork.worker_pids();
    let load = Load::start(prefork.addr, 4, PATHS);
    load.wait_for_done(100);
    std::fs::write(&prefork.config, "greeting = two\n").unwrap();
    prefork.master.signal(Signal::SIGHUP);
    prefork.wait_until(
        |p| {
            let pids = p.worker_pids();
            pids.len() == 2 && pids.iter().all(|pid| !old.contains(pid))
        },
        "a new generation",
    );
    prefork.wait_until(
        |_| old.iter().all(|&pid| !alive(pid)),
        "old workers to drain",
    );
    let before = load.done();
    load.wait_for_done(before + 100);
    let outcome = load.finish();
    assert_eq!((outcome.failed, outcome.refused), (0, 0), "{outcome:?}");
    assert_eq!(prefork.greeting(), "two\n");
    assert_eq!(prefork.ask("generation"), 2);
    let worker = prefork.worker_pids()[0];
    let run = eval(worker, "config.greeting");
    assert_eq!(run.stdout.trim(), "two", "{run:?}");
}

#[test]
fn a_worker_killed_with_sigkill_is_replaced() {
    let prefork = Prefork::start("hello", &[]);
    let before = prefork.worker_pids();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(before[0] as i32),
        Signal::SIGKILL,
    )
    .unwrap();
    prefork.wait_until(
        |p| {
            let pids = p.worker_pids();
            pids.len() == 2 && !pids.contains(&before[0])
        },
        "a replacement worker",
    );
    assert_eq!(prefork.ask("respawns"), 1);
    assert_eq!(prefork.greeting(), "hello\n");
}

#[test]
fn attaching_to_master_and_workers_mid_load_fails_no_request() {
    let prefork = Prefork::start("hello", &[]);
    let load = Load::start(prefork.addr, 4, PATHS);
    load.wait_for_done(100);
    for _ in 0..5 {
        for pid in prefork.worker_pids() {
            let run = eval(pid, "requests_served + in_flight");
            assert_eq!(run.code, 0, "{run:?}");
        }
        assert_eq!(prefork.ask("workers.len()"), 2);
    }
    let before = load.done();
    load.wait_for_done(before + 50);
    let outcome = load.finish();
    assert_eq!((outcome.failed, outcome.refused), (0, 0), "{outcome:?}");
    let eintr: u64 = prefork
        .worker_pids()
        .iter()
        .map(|&pid| {
            eval(pid, "eintr_seen")
                .stdout
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(eintr, 0);
}

#[test]
fn sigquit_is_fast_and_the_graceful_timeout_kills_stragglers() {
    let mut fast = Prefork::start("hello", &[]);
    let addr = fast.addr;
    let slow = std::thread::spawn(move || {
        http_client::get(addr, "/sleep?ms=5000", Duration::from_secs(10))
    });
    std::thread::sleep(Duration::from_millis(200));
    fast.master.signal(Signal::SIGQUIT);
    assert!(fast.master.wait_exit().success());
    assert!(
        slow.join().unwrap().is_err(),
        "a fast shutdown abandons in-flight work"
    );

    let mut impatient = Prefork::start("hello", &["--graceful-timeout-ms", "300"]);
    let workers = impatient.worker_pids();
    let addr = impatient.addr;
    let slow = std::thread::spawn(move || {
        http_client::get(addr, "/sleep?ms=5000", Duration::from_secs(10))
    });
    std::thread::sleep(Duration::from_millis(200));
    impatient.master.signal(Signal::SIGTERM);
    assert!(impatient.master.wait_exit().success());
    assert!(slow.join().unwrap().is_err(), "the straggler was killed");
    assert!(workers.iter().all(|&pid| !alive(pid)));
}
