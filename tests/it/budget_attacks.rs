//! Attacks on the budgets that once got through, each against a real worker: a
//! compile that ignored the deadline, a single call that built past the memory budget,
//! Rhai's `eval`, completion and `:vars` copying huge variables, and a client killed
//! while its session held memory.

use std::time::{Duration, Instant};

use attach_protocol::{encode_line, ErrorKind, Reply, Request};

use crate::budgets::{
    ask, attack, check_peak, end_and_check_given_back, limit_message, reset_peak, rss,
    warm_worker_with, COMMAND_BYTES, MIB, SESSION_BYTES, SLACK,
};
use crate::support::raw::RawClient;
use crate::support::{OpenSession, Worker, WAIT};

/// The fixture worker's default time limit.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// About 55 MiB held in a variable of the command, under its 64 MiB budget.
const HOLD_55_MIB: &str =
    r#"let k = "k"; k.pad(1000000, "x"); let v = #{}; for i in 0..55 { v[k + i] = i };"#;

/// About 60 MiB in a variable, half of it in the map's values.
const HOLD_60_MIB_IN_VALUES: &str =
    r#"let k = "k"; k.pad(1000000, "x"); let v = #{}; for i in 0..30 { v[k + i] = [k + i] };"#;

#[test]
fn eval_is_turned_off() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    match ask(&mut client, 1, r#"eval("1 + 1")"#) {
        Reply::Error {
            kind: ErrorKind::Syntax,
            message,
            ..
        } => assert!(message.contains("'eval' is disabled"), "{message}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn a_huge_source_stops_compiling_at_the_time_limit() {
    let worker = Worker::fixture(&[]);
    let mut client = RawClient::connect(worker.pid);
    // A map literal of 99 000 keys parses in quadratic time (over a minute before the
    // parser checked the deadline); 450 000 statements kept the optimizer busy 17 s.
    let keys: Vec<String> = (0..99_000).map(|i| format!("k{i}:1")).collect();
    let map = format!("let m = #{{{}}}; m.len()", keys.join(","));
    let statements = "1;".repeat(450_000);
    for (id, code) in [map, statements].iter().enumerate() {
        let started = Instant::now();
        let reply = ask(&mut client, id as u64, code);
        let took = started.elapsed();
        eprintln!(
            "{} KB of source: answered in {} ms",
            code.len() / 1000,
            took.as_millis()
        );
        match reply {
            Reply::Value { .. } if id == 1 => {}
            other => assert!(limit_message(other).contains("time limit")),
        }
        // Generous for a loaded CI machine, and still fails if the deadline is ignored.
        assert!(took < COMMAND_TIMEOUT * 3, "{took:?}");
    }
}

#[test]
fn one_split_of_a_long_string_stays_within_the_command_budget() {
    // Rhai built the whole array before checking its size: about 64 MiB in one call.
    for split in [r#"split("")"#, "split()", "to_chars()"] {
        let code = format!(r#"{HOLD_55_MIB} let t = " "; t.pad(1000000, " x"); t.{split}.len()"#);
        attack(&code, "Size of array", COMMAND_BYTES + SLACK);
    }
}

#[test]
fn rendering_or_copying_a_big_map_stays_within_the_command_budget() {
    // `to_string` and `print` built all 55 MiB as text before Rhai checked it (peak
    // +105 MiB); `keys()` and `values()` copied it all uncounted.
    for (held, code, budget) in [
        (HOLD_55_MIB, "v.to_string().len()", "Length of string"),
        (HOLD_55_MIB, "print(v)", "Length of string"),
        (HOLD_55_MIB, "v.keys().len()", "Limits::max_command_bytes"),
        (
            HOLD_60_MIB_IN_VALUES,
            "v.values().len()",
            "Limits::max_command_bytes",
        ),
    ] {
        attack(
            &format!("{held} k = (); {code}"),
            budget,
            COMMAND_BYTES + SLACK,
        );
    }
}

/// About 20 MiB held in a variable of the command.
const HOLD_20_MIB: &str =
    r#"let k = "k"; k.pad(1000000, "x"); let v = #{}; for i in 0..20 { v[k + i] = i };"#;

#[test]
fn every_way_of_rendering_or_copying_a_big_variable_stays_within_the_command_budget() {
    // Rhai copies a variable read by value and renders through its own functions:
    // `${v}` on 55 MiB of map keys once grew the worker by 263 MiB.
    let (worker, _) = warm_worker_with(&["--command-timeout-ms", "30000"]);
    let copies_of_55_mib = [
        "`${v}`.len()",
        r#"("" + v).len()"#,
        r#"(v + "").len()"#,
        r#"let s = ""; s += v; s.len()"#,
        "`${[v.keys()]}`",
        "let w = v; w.len()",
        "fn f(x) { x.len() } f(v)",
        "v == v",
        "throw v",
        "hold_lock(v)",
    ]
    .map(|code| (HOLD_55_MIB, code, "Limits::max_command_bytes"));
    // Each copy fits; together they would not.
    let four_copies_of_20_mib = ["[v, v, v, v].len()", "([v] + [v] + [v] + [v]).len()"]
        .map(|code| (HOLD_20_MIB, code, "Limits::max_command_bytes"));
    let json = (HOLD_55_MIB, "v.to_json().len()", "Length of string");
    // Rhai's own `pad` counts no map keys: 100 000 copies of a 1 MiB key.
    let one_long_key = r#"let k = "k"; k.pad(1000000, "x"); let v = #{}; v[k] = 1;"#;
    let pad = (
        one_long_key,
        "let a = []; a.pad(100000, v); a.len()",
        "Limits::max_command_bytes",
    );
    // A name shadowing an older, smaller variable: the read finds the 55 MiB one.
    let shadowing = format!(
        r#"let s = "s"; s.pad(100000, "x"); let v = #{{}}; v[s] = 0; s = (); {HOLD_55_MIB}"#
    );
    let shadowed = (
        shadowing.as_str(),
        "`${v}`.len()",
        "Limits::max_command_bytes",
    );
    let attacks = copies_of_55_mib
        .into_iter()
        .chain(four_copies_of_20_mib)
        .chain([json, pad, shadowed]);
    for (held, code, budget) in attacks {
        let code = format!("{held} k = (); {code}");
        let before = rss(&worker);
        reset_peak(&worker);
        let mut client = RawClient::connect(worker.pid);
        let message = limit_message(ask(&mut client, 1, &code));
        assert!(message.contains(budget), "{code}: {message}");
        check_peak(&worker, before, COMMAND_BYTES + SLACK, &code);
        end_and_check_given_back(&worker, client, before, &code);
    }
}

#[test]
fn copies_of_a_variable_kept_from_an_earlier_command_stay_within_the_command_budget() {
    let (worker, before) = warm_worker_with(&["--command-timeout-ms", "30000"]);
    let mut client = RawClient::connect(worker.pid);
    ask(&mut client, 1, &format!("{HOLD_55_MIB} k = ();"));
    let held = rss(&worker);
    reset_peak(&worker);
    // One copy fits the command's budget, the second does not.
    let message = limit_message(ask(&mut client, 2, "[v, v].len()"));
    assert!(message.contains("Limits::max_command_bytes"), "{message}");
    let what = "two copies of a kept variable";
    check_peak(&worker, held, COMMAND_BYTES + SLACK, what);
    // As the result: checking whether it was a view once cloned it twice (+76 MiB of a
    // 40 MiB map, +110 MiB of this one).
    reset_peak(&worker);
    let message = limit_message(ask(&mut client, 3, "v"));
    assert!(message.contains("Limits::max_command_bytes"), "{message}");
    check_peak(
        &worker,
        held,
        COMMAND_BYTES + SLACK,
        "a kept variable as the result",
    );
    end_and_check_given_back(&worker, client, before, what);
}

#[test]
fn reading_a_big_variable_by_reference_is_not_charged_a_copy() {
    let (worker, _) = warm_worker_with(&["--command-timeout-ms", "30000"]);
    let mut client = RawClient::connect(worker.pid);
    let code = format!(r#"{HOLD_55_MIB} k = (); [v.len(), len(v), "k" in v, v.values().len()]"#);
    match ask(&mut client, 1, &code) {
        Reply::Value { value, .. } => assert_eq!(value, serde_json::json!([55, 55, false, 55])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_client_killed_mid_command_gives_the_session_memory_back() {
    let (worker, before) = warm_worker_with(&["--command-timeout-ms", "3000"]);
    reset_peak(&worker);
    let mut session = OpenSession::start(worker.pid);
    session.ask(r#"let k = "k"; k.pad(1000000, "x"); 0"#);
    // 96 MiB kept by the session, then 24 MiB more in a command that never ends.
    for id in 1..=4 {
        let code = format!("let v{id} = #{{}}; for i in 0..24 {{ v{id}[k + i] = i }}; {id}");
        assert_eq!(session.ask(&code).as_deref(), Some(id.to_string().as_str()));
    }
    session
        .send(r#"let w = #{}; for i in 0..24 { w[k + i] = i }; loop {}"#)
        .expect("the command went out");
    let deadline = Instant::now() + WAIT;
    while rss(&worker) < before + 110 * MIB {
        assert!(Instant::now() < deadline, "the session never held 110 MiB");
        std::thread::sleep(Duration::from_millis(20));
    }
    session.child.kill().expect("SIGKILL the client");
    check_peak(
        &worker,
        before,
        SESSION_BYTES + SLACK,
        "a session killed mid-command",
    );
    end_and_check_given_back(&worker, session, before, "a session killed mid-command");
}

#[test]
fn completing_or_listing_huge_variables_stays_within_the_session_budget() {
    let (worker, before) = warm_worker_with(&["--command-timeout-ms", "30000"]);
    let mut client = RawClient::connect(worker.pid);
    // 60 map keys of 1 MiB each: 60 MiB kept, under both budgets.
    ask(
        &mut client,
        1,
        r#"let k = "k"; k.pad(1000000, "x"); let m = #{}; for i in 0..60 { m[k + i] = i }; k = ();"#,
    );
    reset_peak(&worker);
    let complete = Request::Complete {
        id: 2,
        line: "m.k".into(),
        pos: 3,
    };
    client.send(&encode_line(&complete));
    // Keys that long are not offered: nothing a person would type.
    match client.reply() {
        Some(Reply::Completions { candidates, .. }) => assert_eq!(candidates.len(), 0),
        other => panic!("expected completions, got {other:?}"),
    }
    check_peak(
        &worker,
        before,
        SESSION_BYTES + SLACK,
        "completing huge keys",
    );
    client.send(&encode_line(&Request::Vars { id: 3 }));
    let message = limit_message(client.reply().expect("a reply to vars"));
    assert!(message.contains("reply limit"), "{message}");
    check_peak(
        &worker,
        before,
        SESSION_BYTES + SLACK,
        "listing huge variables",
    );
    end_and_check_given_back(
        &worker,
        client,
        before,
        "huge variables completed and listed",
    );
}

#[test]
fn reading_a_huge_element_of_a_registered_collection_stays_within_the_command_budget() {
    // Records with a 30 MiB field: one `records.r0.body` once grew the worker by
    // 87 MiB and a walk of the values by 175 MiB before any size limit looked.
    let (worker, _) = warm_worker_with(&["--command-timeout-ms", "30000", "--record-kib", "30000"]);
    for code in [
        "records.r0.body.len()",
        r#"[records["r0"], records["r1"], records["r2"]].len()"#,
        "let a = []; for r in records.values() { a.push(r) } a.len()",
        "records.values().map(|r| r.body).len()",
        "records",
    ] {
        let before = rss(&worker);
        reset_peak(&worker);
        let mut client = RawClient::connect(worker.pid);
        let message = limit_message(ask(&mut client, 1, code));
        assert!(
            message.contains("Limits::max_command_bytes"),
            "{code}: {message}"
        );
        check_peak(&worker, before, COMMAND_BYTES + SLACK, code);
        end_and_check_given_back(&worker, client, before, code);
    }
    let mut client = RawClient::connect(worker.pid);
    match ask(&mut client, 1, "records.r1.name") {
        Reply::Value { value, .. } => assert_eq!(value, "record 1"),
        other => panic!("a small field of a huge record: {other:?}"),
    }
}

/// About 40 MiB held in a variable of the command.
const HOLD_40_MIB: &str =
    r#"let k = "k"; k.pad(1000000, "x"); let v = #{}; for i in 0..40 { v[k + i] = i }; k = (); 0"#;

#[test]
fn copies_the_budget_cannot_count_are_refused() {
    // Each copied a 40 MiB variable kept by the session where no callback runs: twice
    // through `this` (+76 MiB in one command, also as an element `map` binds), at every call of a pointer it was
    // curried into (+76 MiB, 154 MiB over the session), twice more through a `const`
    // that functions read as `global::C` (+152 MiB).
    let (worker, _) = warm_worker_with(&["--command-timeout-ms", "30000"]);
    for (code, refusal) in [
        ("fn f() { [this, this].len() } v.f()", "reads `this` whole"),
        (
            r#"fn f() { let a = []; for i in 0..3 { a.push(this) } a.len() } v.call(Fn("f"))"#,
            "reads `this` whole",
        ),
        ("fn f() { [this, this].len() } [v][0].f()", "computed value"),
        // `map` binds each element as `this` of the closure.
        (
            "let a = [v]; a.map(|| [this, this].len())",
            "reads `this` whole",
        ),
        (
            r#"fn f(c, x) { 1 } let p = Fn("f").curry(v); [1, 2, 3].map(p).len()"#,
            "curried values",
        ),
        (
            r#"fn f(c) { c.len() } let p = Fn("f").curry(v); p.call() + call(p)"#,
            "curried values",
        ),
        (
            "const C = v; fn g() { [global::C, global::C].len() } g()",
            "use `let C`",
        ),
    ] {
        let mut client = RawClient::connect(worker.pid);
        assert!(matches!(
            ask(&mut client, 1, HOLD_40_MIB),
            Reply::Value { .. }
        ));
        let held = rss(&worker);
        reset_peak(&worker);
        match ask(&mut client, 2, code) {
            Reply::Error { message, .. } => assert!(message.contains(refusal), "{code}: {message}"),
            other => panic!("{code}: {other:?}"),
        }
        check_peak(&worker, held, COMMAND_BYTES + SLACK, code);
        drop(client);
    }
    // What is not copied still works: `this` read by reference, a small curried value,
    // a literal `const`.
    let mut client = RawClient::connect(worker.pid);
    assert!(matches!(
        ask(&mut client, 1, HOLD_40_MIB),
        Reply::Value { .. }
    ));
    for (id, fine, answer) in [
        (2, "fn n() { this.len() } v.n()", serde_json::json!(40)),
        (
            3,
            r#"fn add(a, b) { a + b } const ONE = 1; let p = Fn("add").curry(ONE);
            [p.call(2), [1].map(p)]"#,
            serde_json::json!([3, [2]]),
        ),
    ] {
        match ask(&mut client, id, fine) {
            Reply::Value { value, .. } => assert_eq!(value, answer, "{fine}"),
            other => panic!("{fine}: {other:?}"),
        }
    }
}
