//! Finding workers: `--list`, `attach <name>`, `--all` across several workers, and
//! `--json` documents with their exit codes.

use crate::support::named::Named;
use crate::support::{attach, eval, OpenSession, Worker};
use nix::sys::signal::Signal;
use serde_json::Value;

fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON document per line"))
        .collect()
}

#[test]
fn list_shows_agents_only_and_forgets_killed_ones() {
    let mut named = Named::start(1);
    let pid = named.pids()[0];
    let mut pretender = std::process::Command::new("bash")
        .args(["-c", "trap ':' USR1; sleep 30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let run = attach(&["--list", "--json"], "");
    assert_eq!(run.code, 0, "{run:?}");
    let listed = json_lines(&run.stdout);
    let mine = listed
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the worker is listed");
    assert_eq!(mine["name"], named.name.as_str());
    assert_eq!(mine["protocol"], 1);
    assert_eq!(mine["signal"], 10);
    assert_eq!(mine["agent_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(mine["user"], "root");
    assert!(
        !listed.iter().any(|p| p["pid"] == pretender.id()),
        "catching SIGUSR1 is not enough to be listed"
    );
    let table = attach(&["--list"], "");
    assert!(
        table.stdout.starts_with("pid") && table.stdout.contains(&named.name),
        "{table:?}"
    );

    named.workers[0].signal(Signal::SIGKILL);
    named.workers[0].wait_exit();
    let run = attach(&["--list", "--json"], "");
    assert!(
        !json_lines(&run.stdout).iter().any(|p| p["pid"] == pid),
        "a killed worker stays listed"
    );
    pretender.kill().unwrap();
    pretender.wait().unwrap();
}

#[test]
fn a_name_attaches_when_it_is_unique_and_lists_candidates_when_not() {
    let one = Named::start(1);
    let run = attach(&[&one.name, "-e", "pid()"], "");
    assert_eq!(
        (run.code, run.stdout.trim()),
        (0, one.pids()[0].to_string().as_str()),
        "{run:?}"
    );

    let two = Named::start(2);
    let run = attach(&[&two.name, "-e", "pid()"], "");
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("2 processes are named"), "{run:?}");
    for pid in two.pids() {
        assert!(
            run.stderr.contains(&pid.to_string()),
            "candidates are listed: {run:?}"
        );
    }
    let run = attach(&["no-such-worker-name", "-e", "1"], "");
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("attach --list"), "{run:?}");
}

#[test]
fn all_runs_one_expression_on_every_worker_and_a_busy_one_is_an_error_row() {
    let named = Named::start(3);
    let run = attach(&["--all", &named.name, "--json", "-e", "pid()"], "");
    assert_eq!(run.code, 0, "{run:?}");
    let answers = json_lines(&run.stdout);
    assert_eq!(answers.len(), 3);
    for answer in &answers {
        assert_eq!(answer["ok"], true);
        assert_eq!(
            answer["value"], answer["pid"],
            "each worker answered for itself"
        );
    }

    let _busy = OpenSession::start(named.pids()[1]);
    let run = attach(&["--all", &named.name, "-e", "counter"], "");
    assert_eq!(
        run.code, 2,
        "a connection failure makes the exit status 2: {run:?}"
    );
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(rows.len(), 4, "a header and one row per worker: {run:?}");
    assert!(rows[0].starts_with("pid") && rows[0].contains("result"));
    let busy_row = rows
        .iter()
        .find(|row| row.starts_with(&named.pids()[1].to_string()))
        .unwrap();
    assert!(
        busy_row.contains("another attach session is open"),
        "{busy_row}"
    );
    assert_eq!(
        rows.iter().filter(|row| row.ends_with(" 7")).count(),
        2,
        "{run:?}"
    );
}

#[test]
fn json_documents_and_exit_codes_follow_the_documented_schema() {
    let worker = Worker::fixture(&[]);
    let pid = worker.pid.to_string();
    let run = attach(&[&pid, "--json", "-e", "counter"], "");
    assert_eq!(run.code, 0);
    let ok = &json_lines(&run.stdout)[0];
    assert_eq!(
        (ok["ok"].clone(), ok["value"].clone(), ok["command"].clone()),
        (true.into(), 7.into(), "counter".into())
    );
    assert!(ok["elapsed_us"].is_u64() && ok["output"].is_array());

    let run = attach(&[&pid, "--json", "-e", "let = 1"], "");
    assert_eq!(run.code, 1);
    let failed = &json_lines(&run.stdout)[0];
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["error"]["kind"], "syntax");
    assert_eq!(
        (
            failed["error"]["line"].clone(),
            failed["error"]["column"].clone()
        ),
        (1.into(), 5.into())
    );

    let run = attach(&[&pid, "--json"], "1 + 1\nboom()\n");
    assert_eq!(run.code, 1);
    let documents = json_lines(&run.stdout);
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[1]["error"]["kind"], "panic");

    let run = attach(&["999999999", "--json", "-e", "1"], "");
    assert_eq!(run.code, 2);
    let refused = &json_lines(&run.stdout)[0];
    assert_eq!(refused["error"]["kind"], "connect");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no process with pid"));
    assert!(eval(worker.pid, "1").code == 0);
}
