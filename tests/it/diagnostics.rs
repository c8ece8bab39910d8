//! The built-in views every session has, read from a real worker: threads, stacks,
//! memory, descriptors, requests in flight, version, limits.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::support::load::Load;
use crate::support::{attach, attach_bin, eval, frame_in, unique, workspace_bin, Worker, WAIT};
use attach_examples::http_client::{self, KeepAlive};
use attach_protocol::procfs::ProcStat;
use serde_json::Value;

/// `expr` evaluated in `pid`, as JSON.
fn ask(pid: u32, expr: &str) -> Value {
    let run = attach(&[&pid.to_string(), "--json", "-e", expr], "");
    assert_eq!(run.code, 0, "{run:?}");
    let document: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON document");
    document["value"].clone()
}

#[test]
fn threads_lists_every_thread_with_cpu_time_and_prints_as_a_table() {
    let (worker, _) = Worker::http(2);
    let threads = ask(worker.pid, "threads()");
    let names: Vec<&str> = threads
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for name in ["http-worker", "attach-agent", "http-0", "http-1"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let first = &threads[0];
    assert_eq!(
        first["cpu_ms"],
        first["user_ms"].as_u64().unwrap() + first["system_ms"].as_u64().unwrap()
    );
    let filtered = ask(worker.pid, "threads().filter(|t| t.cpu_ms >= 0).len()");
    assert_eq!(filtered, names.len());
    let run = eval(worker.pid, "threads()");
    let header = run.stdout.lines().next().unwrap();
    assert!(
        header.starts_with("tid") && header.contains("name") && header.contains("cpu_ms"),
        "{run:?}"
    );
}

/// The state letter of every thread of `pid` (`t` is stopped by a tracer).
fn thread_states(pid: u32) -> Vec<char> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| Some(ProcStat::read(task.ok()?.path().join("stat"))?.state))
        .collect()
}

#[test]
fn stacks_name_every_thread_and_its_code_with_nothing_installed_and_cause_no_eintr() {
    // An empty PATH: no debugger and no shell to find; the helper is the `attach`
    // binary beside the worker's executable.
    let (worker, addr) =
        Worker::listening_with_env("http-worker", &["--threads", "2"], &[("PATH", "")]);
    let load = Load::start(addr, 2, &["/sleep?ms=5", "/"]);
    load.wait_for_done(20);
    let stacks = ask(worker.pid, "stacks()");
    let stacks = stacks.as_array().unwrap();
    let names: Vec<&str> = stacks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    for name in ["http-worker", "attach-agent", "http-0", "http-1"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let main = stacks.iter().find(|t| t["name"] == "http-worker").unwrap();
    assert_eq!(main["tid"], worker.pid);
    let serve = main["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| frame_in(f, "http_worker::server::serve"))
        .unwrap_or_else(|| panic!("no serve frame in {main}"));
    assert!(
        serve["file"].as_str().unwrap().ends_with("server.rs"),
        "{serve}"
    );
    assert!(serve["line"].as_u64().unwrap() > 0 && serve["address"].as_u64().unwrap() > 0);
    let frames = stacks.iter().flat_map(|t| t["frames"].as_array().unwrap());
    assert!(
        frames.clone().any(|f| f["inlined"] == true),
        "a debug build inlines some std code"
    );
    assert!(frames
        .clone()
        .any(|f| f["module"].as_str().unwrap().starts_with("libc")));
    // A spawned thread begins in the C library's clone3 (then start_thread), which a
    // stripped libc does not export: unnamed with its offset, or its own name where
    // libc has a full symbol table, never the name of the export before it.
    let pool = stacks.iter().find(|t| t["name"] == "http-0").unwrap();
    let outermost = pool["frames"].as_array().unwrap().last().unwrap();
    let function = outermost["function"].as_str().unwrap();
    assert!(
        outermost["module"].as_str().unwrap().starts_with("libc")
            && (function.contains("clone3") || function == "??" && outermost["offset"] != 0),
        "{outermost}"
    );

    let waiting = ask(
        worker.pid,
        r#"stacks().filter(|t| t.frames.some(|f| f.function.contains("server::work"))).len()"#,
    );
    assert_eq!(waiting, 2, "both request threads run server::work");
    let text = eval(worker.pid, "stacks()");
    assert!(
        text.stdout.contains("thread ")
            && text.stdout.lines().any(|line| {
                line.contains("  http_worker::server::serve")
                    && line.contains(" at ")
                    && line.contains("server.rs:")
            }),
        "{text:?}"
    );

    let outcome = load.finish();
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    let run = eval(worker.pid, "eintr_seen");
    assert_eq!(
        run.stdout.trim(),
        "0",
        "a stack snapshot must not interrupt requests: {run:?}"
    );
}

#[test]
fn a_loop_of_stacks_ends_at_the_command_limit_and_leaves_no_thread_stopped() {
    let (worker, addr) = Worker::http(4);
    let load = Load::start(addr, 2, &["/sleep?ms=2", "/"]);
    load.wait_for_done(20);
    let run = eval(worker.pid, "loop { stacks() }");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("time limit"), "{run:?}");
    assert!(
        !thread_states(worker.pid).contains(&'t'),
        "{:?}",
        thread_states(worker.pid)
    );
    let outcome = load.finish();
    assert_eq!(outcome.failed, 0, "{outcome:?}");
    assert_eq!(eval(worker.pid, "eintr_seen").stdout.trim(), "0");
}

#[test]
fn stacks_of_a_worker_running_as_nobody_are_read_by_a_helper_of_that_uid() {
    // setpriv (util-linux, like unshare) execs the worker, so its pid is the worker's.
    let worker = Worker::start(
        "setpriv".into(),
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            workspace_bin("http-worker").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert!(
        worker.first_line.starts_with("listening on "),
        "{}",
        worker.first_line
    );
    assert_eq!(worker.status_number("Uid"), 65534);
    let stacks = ask(worker.pid, "stacks()");
    let main = stacks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "http-worker")
        .unwrap();
    assert!(main["frames"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| frame_in(f, "http_worker::server::serve")));
}

#[test]
fn stacks_name_the_code_of_an_executable_deleted_since_it_started() {
    // A deploy replaces the binary under a running worker: its frames must keep names.
    let original = workspace_bin("http-worker");
    let dir =
        original
            .parent()
            .unwrap()
            .join(format!("deleted-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let doomed = dir.join("http-worker");
    std::fs::hard_link(&original, &doomed)
        .or_else(|_| std::fs::copy(&original, &doomed).map(drop))
        .unwrap();
    let helper = attach_bin();
    let worker = Worker::start_with_env(
        doomed,
        &["--listen", "127.0.0.1:0"],
        &[("ATTACH_STACKS_HELPER", helper.to_str().unwrap())],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let stacks = ask(worker.pid, "stacks()");
    let serving = stacks.as_array().unwrap().iter().filter(|thread| {
        thread["frames"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| frame_in(f, "http_worker::server::serve") && f["line"].as_u64() > Some(0))
    });
    assert_eq!(serving.count(), 1, "{stacks}");
}

#[test]
fn a_helper_that_is_not_there_is_a_clear_error() {
    let (worker, _) = Worker::listening_with_env(
        "http-worker",
        &[],
        &[("ATTACH_STACKS_HELPER", "/nonexistent/attach")],
    );
    let run = eval(worker.pid, "stacks()");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("ATTACH_STACKS_HELPER=/nonexistent/attach is not an executable file"),
        "{run:?}"
    );
}

#[test]
fn a_helper_that_other_users_can_write_is_refused() {
    let dir = crate::support::tempdir::TempDir::new("planted-helper");
    let planted = dir.path().join("attach");
    std::fs::copy(attach_bin(), &planted).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let (worker, _) = Worker::listening_with_env(
        "http-worker",
        &[],
        &[("ATTACH_STACKS_HELPER", planted.to_str().unwrap())],
    );
    let run = eval(worker.pid, "stacks()");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("refusing the helper")
            && run.stderr.contains("can be written by other users"),
        "{run:?}"
    );
}

#[test]
fn mem_reports_resident_peak_virtual_and_heap() {
    let (worker, _) = Worker::http(1);
    let mem = ask(worker.pid, "mem()");
    let rss = mem["rss_kib"].as_u64().unwrap();
    assert!(
        rss > 0 && mem["peak_rss_kib"].as_u64().unwrap() >= rss,
        "{mem}"
    );
    assert!(mem["virtual_kib"].as_u64().unwrap() >= rss);
    assert!(mem["heap"]["in_use_bytes"].as_u64().unwrap() > 0, "{mem}");
}

#[test]
fn fds_show_the_listener_and_a_client_connection_with_addresses() {
    let (worker, addr) = Worker::http(1);
    let mut client = KeepAlive::connect(addr, Duration::from_secs(5)).unwrap();
    assert_eq!(client.get("/").unwrap().status, 200);
    let fds = ask(worker.pid, "fds()");
    let fds = fds.as_array().unwrap();
    let listener = fds
        .iter()
        .find(|fd| fd["state"] == "listen")
        .expect("a listening socket");
    assert_eq!(listener["kind"], "socket");
    assert_eq!(listener["local"], addr.to_string());
    assert!(
        fds.iter()
            .any(|fd| fd["state"] == "established" && fd["local"] == addr.to_string()),
        "{fds:#?}"
    );
    assert!(
        fds.iter().any(|fd| fd["kind"] == "pipe"),
        "the agent's self-pipe"
    );
}

#[test]
fn inflight_shows_the_slow_request_with_its_label_and_age() {
    let (worker, addr) = Worker::http(2);
    let slow = std::thread::spawn(move || {
        http_client::get(addr, "/sleep?ms=2000", Duration::from_secs(10))
    });
    let deadline = Instant::now() + WAIT;
    let entry = loop {
        let inflight = ask(worker.pid, "inflight()");
        if let Some(entry) = inflight
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["label"] == "GET /sleep")
        {
            break entry.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never showed up"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        entry["thread"].as_str().unwrap().starts_with("http-"),
        "{entry}"
    );
    assert_eq!(entry["depth"], 1);
    std::thread::sleep(Duration::from_millis(300));
    let later = ask(
        worker.pid,
        "inflight().filter(|e| e.label == \"GET /sleep\")[0].held_ms",
    );
    assert!(later.as_u64().unwrap() >= 200, "held_ms grows: {later}");
    assert_eq!(slow.join().unwrap().unwrap().status, 200);
    assert_eq!(ask(worker.pid, "inflight().len()"), 0);
}

#[test]
fn version_limits_and_help_describe_the_agent() {
    let (worker, _) = Worker::http(1);
    let version = ask(worker.pid, "version()");
    assert_eq!(version["protocol"], 1);
    assert_eq!(version["process"], "http-worker");
    assert_eq!(version["build"]["example"], "http-worker");
    assert!(version["binary"].as_str().unwrap().ends_with("http-worker"));
    assert_eq!(ask(worker.pid, "limits().command_timeout_ms"), 1000);
    let help = eval(worker.pid, "help()").stdout;
    for builtin in [
        "threads()",
        "stacks()",
        "mem()",
        "fds()",
        "inflight()",
        "uptime()",
        "pid()",
        "version()",
        "limits()",
    ] {
        assert!(help.contains(builtin), "help() lacks {builtin}");
    }
}
