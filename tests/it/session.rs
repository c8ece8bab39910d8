//! A session against a real worker: values, scope, errors, limits, cleanup.

use std::time::Duration;

use crate::support::{attach, eval, Worker};
use attach_examples::http_client;

#[test]
fn requests_served_matches_the_requests_sent() {
    let (worker, addr) = Worker::http(2);
    for _ in 0..25 {
        let response = http_client::get(addr, "/", Duration::from_secs(5)).expect("request");
        assert_eq!(response.status, 200);
    }
    let run = eval(worker.pid, "requests_served");
    assert_eq!((run.code, run.stdout.trim()), (0, "25"), "{run:?}");
    let run = attach(&[&worker.pid.to_string(), "p", "paths[\"/\"]"], "");
    assert_eq!(run.stdout.trim(), "25", "{run:?}");
}

#[test]
fn scope_and_functions_persist_across_lines() {
    let (worker, _) = Worker::http(1);
    let run = attach(
        &[&worker.pid.to_string()],
        "let x = 40\nfn twice(n) { n * 2 }\nx + 2\ntwice(x)\n",
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), ["42", "80"]);
}

#[test]
fn a_syntax_error_reports_line_and_column_and_the_session_goes_on() {
    let (worker, _) = Worker::http(1);
    let run = attach(&[&worker.pid.to_string()], "let = 5\n1 + 1\n");
    assert_eq!(run.code, 1, "an error in the batch makes the exit status 1");
    assert!(
        run.stderr.contains("syntax error at line 1, column 5"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("      ^"),
        "caret under the column: {run:?}"
    );
    assert_eq!(run.stdout.trim(), "2");
}

#[test]
fn a_runaway_loop_is_cut_off_and_the_next_command_works() {
    let (worker, _) = Worker::http(1);
    let run = attach(&[&worker.pid.to_string()], "loop {}\n40 + 2\n");
    assert!(run.stderr.contains("time limit"), "{run:?}");
    assert_eq!(run.stdout.trim(), "42");
}

#[test]
fn oversized_results_and_deep_recursion_hit_limits() {
    let (worker, _) = Worker::http(1);
    let pid = worker.pid.to_string();
    let run = attach(
        &[&pid],
        "let s = \"x\"; loop { s += s; }\nfn f(n) { f(n + 1) } f(0)\n7\n",
    );
    assert!(run.stderr.contains("grew past its limit"), "{run:?}");
    assert!(run.stderr.contains("nested too deeply"), "{run:?}");
    assert_eq!(run.stdout.trim(), "7");
}

#[test]
fn print_goes_to_the_client_not_the_host() {
    let (mut worker, _) = Worker::http(1);
    let run = eval(worker.pid, "print(\"from the worker\"); 1");
    assert_eq!(run.stdout, "from the worker\n1\n", "{run:?}");
    worker.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(worker.wait_exit().success());
    assert_eq!(
        worker.stderr_after_kill(),
        "",
        "the agent must never write to the host's stderr"
    );
}

#[test]
fn help_lists_registered_names_and_builtins() {
    let (worker, _) = Worker::http(1);
    let run = eval(worker.pid, "help()");
    for name in [
        "requests_served",
        "set_config(key: String, value: String)",
        "pid()",
        "uptime()",
    ] {
        assert!(
            run.stdout.contains(name),
            "help() lacks {name}: {}",
            run.stdout
        );
    }
    assert_eq!(
        eval(worker.pid, "pid()").stdout.trim(),
        worker.pid.to_string()
    );
    let uptime: f64 = eval(worker.pid, "uptime()").stdout.trim().parse().unwrap();
    assert!(uptime >= 0.0);
}

#[test]
fn registered_functions_change_state_and_values_are_read_only() {
    let (worker, addr) = Worker::http(1);
    let run = eval(worker.pid, "set_config(\"greeting\", \"bonjour\")");
    assert_eq!(
        run.stdout.trim(),
        "hello",
        "returns the previous value: {run:?}"
    );
    let body = http_client::get(addr, "/", Duration::from_secs(5))
        .unwrap()
        .body;
    assert_eq!(body, "bonjour\n");
    let run = attach(
        &[&worker.pid.to_string()],
        "config.greeting = \"x\"\nconfig.greeting\n",
    );
    assert_eq!(
        run.stdout.trim(),
        "bonjour",
        "scripts get copies of live values: {run:?}"
    );
}

#[test]
fn no_fifo_is_left_after_clean_exits() {
    let (worker, _) = Worker::http(1);
    assert_eq!(eval(worker.pid, "1").code, 0);
    assert_eq!(attach(&[&worker.pid.to_string()], "1\n2\n").code, 0);
    assert_eq!(eval(worker.pid, "no_such_name").code, 1);
    assert_eq!(worker.leftover_fifos(), Vec::<String>::new());
}
