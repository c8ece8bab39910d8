//! A newcomer's own service (`tokio-service`): `#[tokio::main]`, an `Arc<Config>`,
//! a `tokio::sync::RwLock` map, typed functions and `InFlightLayer`. Each point of
//! the "newcomer" issue is checked against the real process: typed signatures and
//! argument errors, redaction, the late-install warning naming every exposed thread
//! every time, route labels without raw paths, per-route latency, `tasks()`, the
//! audit levels, `log_level`, and warnings that outlive a missing subscriber.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::{attach, eval, exposed_threads, Worker, WAIT};
use attach_examples::http_client;

const SECRET_ID: &str = "user-42-reset-token-abcdef";

fn service(env: &[(&str, &str)]) -> (Worker, SocketAddr) {
    Worker::listening_with_env("tokio-service", &[], env)
}

/// Sends one request with `method` and returns the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> String {
    let response = http_client::request(addr, method, path, Duration::from_secs(10))
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    assert_eq!(response.status, 200, "{method} {path}");
    response.body
}

#[test]
fn typed_functions_show_their_signature_and_check_arguments_before_running() {
    let (worker, addr) = service(&[]);
    let help = eval(worker.pid, "help()");
    for signature in [
        "evict(key: String)",
        "put_item(key: String, item: Item)",
        "restock(key: String, add: u32, dry_run: bool)",
    ] {
        assert!(help.stdout.contains(signature), "{signature}: {help:?}");
    }
    let put = eval(worker.pid, "put_item(\"pen\", #{name: \"pen\", qty: 3})");
    assert_eq!(put.code, 0, "{put:?}");
    assert_eq!(request(addr, "GET", "/items/pen"), "pen x3\n");
    for (call, expected) in [
        ("evict()", "evict(key: String) takes 1 argument, given 0"),
        ("evict(\"a\", 2)", "takes 1 argument, given 2"),
        ("evict(5)", "argument 1 must be String"),
        ("restock(\"pen\", -1, false)", "argument 2 must be u32"),
        ("put_item(\"cup\", #{name: \"cup\"})", "missing field `qty`"),
        ("restock(\"nope\", 1, false)", "no item \"nope\""),
    ] {
        let run = eval(worker.pid, call);
        assert_eq!(run.code, 1, "{call}: {run:?}");
        assert!(run.stderr.contains(expected), "{call}: {run:?}");
    }
    assert_eq!(
        eval(worker.pid, "restock(\"pen\", 2, true)").stdout.trim(),
        "5"
    );
    assert_eq!(eval(worker.pid, "items.pen.qty").stdout.trim(), "3");
    assert_eq!(
        eval(worker.pid, "restock(\"pen\", 2, false)").stdout.trim(),
        "5"
    );
    assert_eq!(eval(worker.pid, "evict(\"pen\").qty").stdout.trim(), "5");
    assert_eq!(request(addr, "GET", "/items/pen"), "no such item\n");
}

#[test]
fn an_arc_config_is_readable_and_its_secret_redacted() {
    let (worker, _) = service(&[]);
    let run = eval(worker.pid, "config");
    assert!(run.stdout.contains("\"max_items\": 1000"), "{run:?}");
    assert!(
        run.stdout.contains("\"api_token\": \"[redacted]\""),
        "{run:?}"
    );
    assert!(!run.stdout.contains("tok-secret"), "{run:?}");
}

#[test]
fn tokio_main_works_and_the_warning_names_every_exposed_thread_every_time() {
    let services: Vec<_> = (0..3).map(|_| service(&[])).collect();
    for (worker, _) in &services {
        let warnings = eval(worker.pid, "version().warnings");
        assert_eq!(warnings.code, 0, "{warnings:?}");
        let exposed = exposed_threads(worker.pid);
        assert!(
            exposed.iter().any(|t| t.starts_with("tokio-rt-worker")),
            "{exposed:?}"
        );
        for thread in &exposed {
            assert!(
                warnings.stdout.contains(thread.as_str()),
                "{thread} missing from {warnings:?}"
            );
        }
        assert_eq!(eval(worker.pid, "runtime().workers").stdout.trim(), "2");
    }
}

#[test]
fn routes_label_requests_and_keep_their_latency_without_raw_paths() {
    let (worker, addr) = service(&[]);
    for _ in 0..5 {
        request(addr, "PUT", &format!("/items/{SECRET_ID}?name=pen&qty=1"));
    }
    let slow_path = format!("/items/{SECRET_ID}?delay_ms=1500");
    let slow = std::thread::spawn(move || {
        http_client::request(addr, "GET", &slow_path, Duration::from_secs(10))
    });
    let deadline = Instant::now() + WAIT;
    let inflight = loop {
        let run = eval(worker.pid, "inflight().map(|r| r.label)");
        if run.stdout.contains("GET /items/{id}") {
            break run;
        }
        assert!(Instant::now() < deadline, "never in flight: {run:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!inflight.stdout.contains(SECRET_ID), "{inflight:?}");
    assert_eq!(slow.join().unwrap().unwrap().status, 200);
    let stats = eval(worker.pid, "inflight_stats()");
    assert!(!stats.stdout.contains(SECRET_ID), "{stats:?}");
    let put = eval(
        worker.pid,
        "let s = inflight_stats().filter(|r| r.label == \"PUT /items/{id}\")[0]; [s.count, s.p50_us <= s.p99_us]",
    );
    assert_eq!(
        put.stdout.split_whitespace().collect::<String>(),
        "[5,true]",
        "{put:?}"
    );
    let slow = eval(
        worker.pid,
        "inflight_stats().filter(|r| r.label == \"GET /items/{id}\")[0].p50_us",
    );
    let p50: u64 = slow.stdout.trim().parse().expect("a p50");
    assert!(p50 >= 1_000_000, "a 1.5 s request: {slow:?}");
}

#[test]
fn tasks_counts_alive_tasks_and_says_what_needs_tokio_unstable() {
    let (worker, _) = service(&[]);
    let run = eval(worker.pid, "let t = tasks(); [t.alive_tasks > 0, t.note]");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("true"), "{run:?}");
    assert!(run.stdout.contains("tokio_unstable"), "{run:?}");
}

#[test]
fn sessions_are_audited_at_info_commands_at_debug_and_the_level_changes_live() {
    let (mut worker, _) = service(&[("RUST_LOG", "attach=info")]);
    let pid = worker.pid.to_string();
    let run = attach(&[&pid], "1 + 1\nlog_level()\n");
    assert!(run.stdout.contains("attach=info"), "{run:?}");
    worker.wait_log("session closed");
    assert!(
        !worker.log_so_far().iter().any(|l| l.contains("evaluated")),
        "commands are DEBUG: {:#?}",
        worker.log_seen
    );
    let run = attach(&[&pid], "log_level(\"attach=debug\")\n40 + 2\n");
    assert!(run.stdout.contains("attach=debug"), "{run:?}");
    let audited = worker.wait_log("command=40 + 2");
    assert!(audited.contains("DEBUG"), "{audited}");
    assert!(worker
        .log_so_far()
        .iter()
        .any(|l| l.contains("log filter changed")));
}

#[test]
fn warnings_raised_before_the_subscriber_are_logged_later_not_lost() {
    let mut worker = Worker::start_with_env(
        crate::support::workspace_bin("tokio-service"),
        &["--listen", "127.0.0.1:0", "--log-after-agent"],
        &[("RUST_LOG", "attach=warn")],
    );
    assert!(eval(worker.pid, "1").code == 0);
    let line = worker.wait_log("raised before a log subscriber existed");
    assert!(line.contains("tokio-rt-worker"), "{line}");
}

#[test]
fn examples_log_warnings_without_rust_log() {
    // An empty RUST_LOG is "unset" to the examples; the harness still collects stderr.
    let mut worker = Worker::start_with_env(
        crate::support::workspace_bin("axum-worker"),
        &["--listen", "127.0.0.1:0", "--late-agent"],
        &[("RUST_LOG", "")],
    );
    let warning = worker.wait_log("do not block SIGUSR1");
    assert!(warning.contains("WARN"), "{warning}");
}

#[test]
fn a_threaded_hosts_labelled_guards_keep_latency_too() {
    let (worker, addr) = Worker::http(2);
    for _ in 0..4 {
        request(addr, "GET", "/sleep?ms=20");
    }
    let run = eval(
        worker.pid,
        "let s = inflight_stats().filter(|r| r.label == \"GET /sleep\")[0]; [s.count, s.p50_us]",
    );
    let numbers: Vec<u64> = serde_json::from_str(&run.stdout).expect("[count, p50]");
    assert_eq!(numbers[0], 4, "{run:?}");
    // 20 ms, within the histogram's bucket width (about 12%).
    assert!((17_000..100_000).contains(&numbers[1]), "{run:?}");
}
