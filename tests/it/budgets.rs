//! Time and memory budgets against a real worker: whatever a script calls or builds,
//! the command ends with a `limit` error near its limit, the worker's RSS grows by at
//! most the budget plus a few MiB, gives it back when the session ends, and the agent
//! answers the next session.

use std::time::{Duration, Instant};

use attach_protocol::{encode_line, ErrorKind, Reply, Request};

use crate::support::raw::RawClient;
use crate::support::{eval, Worker};

pub(crate) const MIB: u64 = 1024 * 1024;
/// The defaults of `Limits`, which the fixture worker keeps.
pub(crate) const COMMAND_BYTES: u64 = 64 * MIB;
pub(crate) const SESSION_BYTES: u64 = 128 * MIB;
/// The time limit the loops below run into: shorter than the default 1 s, so that a
/// dozen of them take seconds, and long enough for any one call to start.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(300);
/// What the agent may use beyond a budget: the meter's lag, allocator slack.
pub(crate) const SLACK: u64 = 8 * MIB;
/// How close RSS must come back to where it was once a session ends.
pub(crate) const GIVEN_BACK: u64 = 16 * MIB;

/// Every built-in, the fixture's registered function, and a registered value.
const CALLS: &[&str] = &[
    "help()",
    "pid()",
    "uptime()",
    "threads()",
    "stacks()",
    "mem()",
    "fds()",
    "inflight()",
    "limits()",
    "version()",
    "bump()",
    "counter",
];

pub(crate) fn ask(client: &mut RawClient, id: u64, code: &str) -> Reply {
    client.eval(id, code);
    client.reply().expect("a reply")
}

/// The message of a `limit` error; anything else fails the test.
pub(crate) fn limit_message(reply: Reply) -> String {
    match reply {
        Reply::Error {
            kind: ErrorKind::Limit,
            message,
            ..
        } => message,
        other => panic!("expected a limit error, got {other:?}"),
    }
}

/// Resident and peak resident bytes of the worker.
pub(crate) fn rss(worker: &Worker) -> u64 {
    worker.status_number("VmRSS") * 1024
}

fn peak_rss(worker: &Worker) -> u64 {
    worker.status_number("VmHWM") * 1024
}

/// Starts the peak (`VmHWM`) over from the current RSS.
pub(crate) fn reset_peak(worker: &Worker) {
    std::fs::write(format!("/proc/{}/clear_refs", worker.pid), "5").expect("reset VmHWM");
}

/// A fixture worker whose agent has served one session already (the engine is built
/// lazily), with its RSS then. Its time limit is long, so that the memory budgets are
/// what stops an attack even on a slow machine.
fn warm_worker() -> (Worker, u64) {
    warm_worker_with(&["--command-timeout-ms", "30000"])
}

/// `warm_worker` with other arguments.
pub(crate) fn warm_worker_with(args: &[&str]) -> (Worker, u64) {
    let worker = Worker::fixture(args);
    let run = eval(worker.pid, "1 + 1");
    assert_eq!(run.stdout.trim(), "2", "{run:?}");
    let before = rss(&worker);
    (worker, before)
}

/// Sends `command(1)`, `command(2)`... until one ends with a `limit` error: its number
/// and message.
fn pile_until_limit(client: &mut RawClient, command: impl Fn(u64) -> String) -> (u64, String) {
    for id in 1..=8 {
        if let Reply::Error { kind, message, .. } = ask(client, id, &command(id)) {
            assert_eq!(kind, ErrorKind::Limit, "{message}");
            return (id, message);
        }
    }
    panic!("eight commands and no limit");
}

/// Fails if the worker's peak RSS grew by more than `allowed` since `before`.
pub(crate) fn check_peak(worker: &Worker, before: u64, allowed: u64, what: &str) {
    let grown = peak_rss(worker).saturating_sub(before);
    eprintln!("{what}: peak RSS grew by {} KiB", grown / 1024);
    assert!(grown <= allowed, "{what}: RSS grew by {grown} bytes");
}

/// Ends `client`'s session (drops it), proves the agent answers the next one, and checks that
/// the worker's RSS came back near `before`.
pub(crate) fn end_and_check_given_back<C>(worker: &Worker, client: C, before: u64, attack: &str) {
    drop(client);
    let run = eval(worker.pid, "40 + 2");
    assert_eq!(
        run.stdout.trim(),
        "42",
        "the agent answers after {attack}: {run:?}"
    );
    let after = rss(worker);
    eprintln!(
        "{attack}: RSS before the session {} KiB, after it {} KiB",
        before / 1024,
        after / 1024
    );
    assert!(
        after <= before + GIVEN_BACK,
        "{attack}: RSS {after} did not come back near {before}"
    );
}

#[test]
fn a_loop_over_any_call_ends_at_the_time_limit() {
    let limit = COMMAND_TIMEOUT.as_millis().to_string();
    let worker = Worker::fixture(&["--command-timeout-ms", &limit]);
    let mut client = RawClient::connect(worker.pid);
    for (id, call) in CALLS.iter().enumerate() {
        let started = Instant::now();
        // `try` cannot swallow the limit; an error of the call itself must not end
        // the loop early either.
        let reply = ask(
            &mut client,
            id as u64,
            &format!("loop {{ try {{ {call} }} catch {{}} }}"),
        );
        let took = started.elapsed();
        let message = limit_message(reply);
        assert!(message.contains("time limit"), "{call}: {message}");
        eprintln!("loop of {call}: stopped after {} ms", took.as_millis());
        // Generous for a loaded CI machine, and still fails if the deadline is ignored.
        assert!(took < COMMAND_TIMEOUT * 3, "{call} ran {took:?}");
    }
}

#[test]
fn vars_and_complete_answer_within_the_budget() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    ask(&mut client, 1, "let m = #{ alpha: 1, beta: 2 }");
    client.send(&attach_protocol::encode_line(
        &attach_protocol::Request::Vars { id: 2 },
    ));
    assert!(matches!(client.reply(), Some(Reply::Value { .. })));
    let complete = Request::Complete {
        id: 3,
        line: "m.al".into(),
        pos: 4,
    };
    client.send(&encode_line(&complete));
    match client.reply() {
        Some(Reply::Completions { candidates, .. }) => assert_eq!(candidates, ["alpha"]),
        other => panic!("{other:?}"),
    }
}

/// One memory attack in its own session: it must end with a `limit` error that names
/// `budget`, with the worker's peak RSS at most `allowed` above where it was.
pub(crate) fn attack(code: &str, budget: &str, allowed: u64) {
    let (worker, before) = warm_worker();
    let mut client = RawClient::connect(worker.pid);
    reset_peak(&worker);
    let message = limit_message(ask(&mut client, 1, code));
    assert!(message.contains(budget), "{message}");
    check_peak(&worker, before, allowed, code);
    end_and_check_given_back(&worker, client, before, code);
}

#[test]
fn many_long_map_keys_stop_at_the_command_budget() {
    attack(
        r#"let k = "k"; k.pad(1000000, "x"); let m = #{}; let i = 0; loop { m[k + i] = i; i += 1 }"#,
        "Limits::max_command_bytes",
        COMMAND_BYTES + SLACK,
    );
}

#[test]
fn long_strings_in_many_variables_stop_at_the_command_budget() {
    attack(
        r#"let s = "s"; s.pad(1000000, "x"); let all = []; loop { let m = #{}; m[s + all.len()] = 1; all.push(m); }"#,
        "Limits::max_command_bytes",
        COMMAND_BYTES + SLACK,
    );
}

#[test]
fn deep_recursion_holding_strings_stops_at_the_command_budget() {
    attack(
        r#"fn hold(n, s) { let mine = s + n; if n > 0 { hold(n - 1, s) } else { loop {} } } let s = "s"; s.pad(1000000, "x"); hold(60, s)"#,
        "Limits::max_command_bytes",
        COMMAND_BYTES + SLACK,
    );
}

#[test]
fn a_closure_collected_by_map_stops_at_the_command_budget() {
    // What `map` collects lives in no variable: the resident-memory backstop stops it.
    attack(
        r#"let s = "s"; s.pad(1000000, "x"); let r = []; r.pad(5000, 0); r.map(|i| s + i).len()"#,
        "Limits::max_command_bytes",
        COMMAND_BYTES + SLACK,
    );
}

#[test]
fn huge_strings_and_arrays_stop_at_their_limits() {
    let (worker, before) = warm_worker_with(&[]);
    let mut client = RawClient::connect(worker.pid);
    reset_peak(&worker);
    for (id, code) in [
        r#"let s = "x"; loop { s += s }"#,
        "let a = []; loop { a += a.len(); a += [a.len()] }",
        r#"let a = []; loop { let b = []; b.pad(50000, "x"); a.push(b) }"#,
        r#"let s = "x"; s.pad(1000000, "x"); s.split("").len()"#,
    ]
    .into_iter()
    .enumerate()
    {
        let message = limit_message(ask(&mut client, id as u64, code));
        eprintln!("{code}: {message}");
    }
    check_peak(
        &worker,
        before,
        COMMAND_BYTES + SLACK,
        "huge strings and arrays",
    );
    end_and_check_given_back(&worker, client, before, "huge strings and arrays");
}

#[test]
fn variables_piled_up_across_commands_stop_at_the_session_budget() {
    let (worker, before) = warm_worker();
    let mut client = RawClient::connect(worker.pid);
    reset_peak(&worker);
    ask(&mut client, 0, r#"let k = "k"; k.pad(1000000, "x");"#);
    // 24 MiB per command: within the command budget, past the session's by the sixth.
    let (id, message) = pile_until_limit(&mut client, |id| {
        format!("let v{id} = #{{}}; for i in 0..24 {{ v{id}[k + i] = i }}")
    });
    assert!(message.contains("Limits::max_session_bytes"), "{message}");
    eprintln!("piled variables: stopped at command {id}: {message}");
    // Still usable: what was dropped got the session back under its budget.
    match ask(&mut client, 100, "1 + 1") {
        Reply::Value { value, .. } => assert_eq!(value, 2),
        other => panic!("{other:?}"),
    }
    // `:vars` would convert all of it: the request's own budget refuses.
    client.send(&encode_line(&Request::Vars { id: 101 }));
    let message = limit_message(client.reply().expect("a reply to vars"));
    assert!(message.contains("memory budget"), "{message}");
    check_peak(&worker, before, SESSION_BYTES + SLACK, "piled variables");
    end_and_check_given_back(&worker, client, before, "piled variables");
}

#[test]
fn functions_piled_up_across_commands_stop_at_the_session_budget() {
    // A 16 MiB session, so that a few small commands reach it.
    let (worker, before) =
        warm_worker_with(&["--command-timeout-ms", "30000", "--max-session-mib", "16"]);
    let mut client = RawClient::connect(worker.pid);
    reset_peak(&worker);
    // About 60 KB of definitions a command: each keeps MiBs of compiled script.
    let (id, message) = pile_until_limit(&mut client, |id| {
        (0..900)
            .map(|n| {
                format!(
                    "fn f{id}_{n}(x) {{ let y = x + {n}; if y > 3 {{ y * 2 }} else {{ y - 1 }} }} "
                )
            })
            .chain(std::iter::once(format!("f{id}_1(1)")))
            .collect()
    });
    assert!(message.contains("memory budget"), "{message}");
    eprintln!("piled functions: stopped at command {id}: {message}");
    check_peak(&worker, before, 16 * MIB + SLACK, "piled functions");
    end_and_check_given_back(&worker, client, before, "piled functions");
}

#[test]
fn the_agent_answers_after_an_idle_timeout_and_after_errors() {
    let worker = Worker::fixture(&["--idle-timeout-ms", "300"]);
    let mut client = RawClient::connect(worker.pid);
    limit_message(ask(&mut client, 1, "loop {}"));
    assert!(matches!(
        ask(&mut client, 2, "explode"),
        Reply::Error {
            kind: ErrorKind::Panic,
            ..
        }
    ));
    // The session goes idle past its limit and is closed by the agent.
    assert!(matches!(client.reply(), Some(Reply::Bye { .. })));
    drop(client);
    for _ in 0..3 {
        let run = eval(worker.pid, "40 + 2");
        assert_eq!(run.stdout.trim(), "42", "{run:?}");
    }
}
