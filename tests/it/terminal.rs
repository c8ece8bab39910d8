//! Text from a worker never reaches a terminal raw: values, table keys and cells,
//! printed lines, error messages, `--list` columns, `--watch`, the process name in
//! the prompt, and `inflight()` labels an HTTP client chose. Escapes are visible
//! (`\x1b`, `\u{9b}`); `--json` stays exact.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::pty::Pty;
use crate::support::tempdir::TempDir;
use crate::support::{attach, attach_bin, eval, Worker, WAIT};

/// What the fixture's `hostile` value holds (see fixtures/fixture_worker.rs).
const HOSTILE: &str = "\x1b]0;owned\x07\x1b[2J\x1b[31m\u{9b}1;1Hred\x7f!";
/// The same, as attach shows it.
const SHOWN: &str = r"\x1b]0;owned\x07\x1b[2J\x1b[31m\u{9b}1;1Hred\x7f!";

/// Fails if `screen` holds any piece of a control sequence from the worker. The
/// shell's own sequences (cursor moves, colours) start with ESC too, so the check
/// looks for what the worker sent, not for ESC as such.
fn assert_no_raw_controls(screen: &str) {
    for raw in [
        "\x1b]0;",
        "\x07",
        "\x1b[2J",
        "\x1b[31m",
        "\u{9b}",
        "\x7f",
        "\x1b[1mey",
    ] {
        assert!(
            !screen.contains(raw),
            "raw {raw:?} reached the terminal: {screen:?}"
        );
    }
}

/// A PTY shell on `worker`, with its history kept in a fresh directory.
fn shell(worker: &Worker) -> (Pty, TempDir) {
    let state = TempDir::new("state");
    let pty = Pty::spawn(
        &attach_bin(),
        &[&worker.pid.to_string()],
        &[("XDG_STATE_HOME", state.env())],
    );
    (pty, state)
}

/// Types a line and returns what appeared up to the next prompt.
fn run(pty: &mut Pty, line: &str) -> String {
    pty.send(line);
    pty.send("\r");
    pty.expect(")> ")
}

/// The fixture worker started through a symlink whose name is a control sequence,
/// which becomes its process name (`/proc/<pid>/comm`, at most 15 bytes). With
/// `as_nobody` and the tests running as root, it runs as uid 65534: another user
/// names a process to reach root's terminal.
fn fixture_named_hostile(as_nobody: bool) -> (Worker, TempDir) {
    let dir = TempDir::new("name");
    let link = dir.path().join("\x1b]0;pwn\x07\x1b[2J\u{9b}\x7f");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fixture-worker"), &link).unwrap();
    let worker = if as_nobody && nix::unistd::geteuid().is_root() {
        // setpriv (util-linux) execs the fixture: same pid, new uid.
        let link = link.to_str().unwrap();
        let setpriv = ["--reuid=65534", "--regid=65534", "--clear-groups", link];
        Worker::start("/usr/bin/setpriv".into(), &setpriv)
    } else {
        Worker::start(link, &[])
    };
    assert_eq!(worker.first_line, "ready");
    (worker, dir)
}

#[test]
fn the_shell_escapes_values_tables_errors_prints_and_the_prompt() {
    let (worker, _dir) = fixture_named_hostile(false);
    let (mut pty, _state) = shell(&worker);
    let banner = pty.expect(")> ");
    assert!(
        banner.contains(r"(\x1b]0;pwn\x07\x1b[2J\u{9b}\x7f)> "),
        "{banner:?}"
    );
    let mut screen = banner;
    for (line, expected) in [
        ("hostile", SHOWN.to_owned()),
        ("print(hostile); 1", SHOWN.to_owned()),
        ("hostile_rows", r"k\x1b[1mey".to_owned()),
        ("hostile_rows", SHOWN[..40].to_owned()),
        (
            "#{ nested: hostile }",
            r#""\u001b]0;owned\u0007"#.to_owned(),
        ),
        ("hostile_fail()", format!("failed: {SHOWN}")),
        ("throw hostile", SHOWN.to_owned()),
        (":json", "raw JSON output on".to_owned()),
        (
            "hostile",
            r#""\u001b]0;owned\u0007\u001b[2J\u001b[31m\u009b1;1Hred\u007f!""#.to_owned(),
        ),
    ] {
        let out = run(&mut pty, line);
        assert!(
            out.contains(&expected),
            "{line}: {expected:?} not in {out:?}"
        );
        screen.push_str(&out);
    }
    assert_no_raw_controls(&screen);
    pty.send("\x04");
    assert!(pty.wait_exit().success());
}

#[test]
fn completion_never_offers_a_candidate_with_a_control_character() {
    let worker = Worker::fixture(&[]);
    let (mut pty, _state) = shell(&worker);
    let mut screen = pty.expect(")> ");
    screen.push_str(&run(&mut pty, r#"let m = #{ "ab\x1b[2Jc": 1, abd: 2 }"#));
    pty.send("m.ab\t");
    screen.push_str(&pty.expect("m.abd"));
    let out = run(&mut pty, "");
    assert!(out.contains('2'), "the one safe key was completed: {out:?}");
    screen.push_str(&out);
    assert_no_raw_controls(&screen);
}

#[test]
fn one_shot_output_is_escaped_on_a_terminal_and_in_a_pipe_and_json_is_exact() {
    let worker = Worker::fixture(&[]);
    let pid = worker.pid.to_string();
    let mut pty = Pty::spawn(&attach_bin(), &[&pid, "-e", "hostile"], &[]);
    let out = pty.expect("!");
    assert!(out.contains(SHOWN), "{out:?}");
    assert_no_raw_controls(&out);
    assert!(pty.wait_exit().success());

    let piped = eval(worker.pid, "hostile");
    assert_eq!(
        (piped.code, piped.stdout.trim_end()),
        (0, SHOWN),
        "{piped:?}"
    );

    let mut pty = Pty::spawn(&attach_bin(), &[&pid, "--json", "-e", "hostile"], &[]);
    let out = pty.expect("}");
    assert!(
        !out.chars()
            .any(|c| c.is_control() && c != '\r' && c != '\n'),
        "{out:?}"
    );
    let document: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        document["value"], HOSTILE,
        "--json decodes to the exact text"
    );
    assert!(pty.wait_exit().success());

    let piped = attach(&[&pid, "--json", "-e", "hostile_fail()"], "");
    let document: serde_json::Value = serde_json::from_str(piped.stdout.trim()).unwrap();
    let message = document["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("failed: {HOSTILE}")),
        "{message:?}"
    );
    let human = eval(worker.pid, "hostile_fail()");
    assert!(
        human.stderr.contains(&format!("failed: {SHOWN}")),
        "{human:?}"
    );
    assert_no_raw_controls(&human.stderr);
}

#[test]
fn list_and_watch_show_a_name_another_user_chose_escaped_and_json_keeps_it_exact() {
    let (worker, _dir) = fixture_named_hostile(true);
    let list = attach(&["--list"], "");
    let row = list
        .stdout
        .lines()
        .find(|line| line.starts_with(&worker.pid.to_string()))
        .unwrap_or_else(|| panic!("pid {} not listed: {list:?}", worker.pid));
    assert!(row.contains(r"\x1b]0;pwn\x07\x1b[2J\u{9b}\x7f"), "{row:?}");
    assert_no_raw_controls(&list.stdout);
    let json = attach(&["--list", "--json"], "");
    let named = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|process| process["pid"] == worker.pid)
        .expect("listed as JSON");
    assert_eq!(named["name"], "\x1b]0;pwn\x07\x1b[2J\u{9b}\x7f");
    if nix::unistd::geteuid().is_root() {
        assert_eq!(named["uid"], 65534, "another user named it");
    }
    assert_no_raw_controls(&json.stdout);

    let mut pty = Pty::spawn(
        &attach_bin(),
        &[
            &worker.pid.to_string(),
            "--watch",
            "hostile",
            "--interval",
            "100ms",
        ],
        &[],
    );
    let out = pty.expect("!");
    assert!(out.contains(SHOWN), "{out:?}");
    let redraw = "\x1b[H\x1b[2J";
    assert!(out.starts_with(redraw), "{out:?}");
    assert_no_raw_controls(&out[redraw.len()..]);
}

/// The realistic attack: a remote HTTP client puts control sequences in the path
/// of a slow request; an engineer looks at `inflight()` and `paths` on a terminal.
#[test]
fn an_http_client_cannot_reach_the_engineers_terminal_through_a_request_path() {
    let (worker, addr) = Worker::http(2);
    let hostile = "\x1b]0;owned\x07\x1b[2J\u{9b}31m\x7f";
    // Held open for 10 s: long enough to be seen, however slow the machine.
    let _slow = request(addr, &format!("/sleep/{hostile}?ms=10000"));
    let label = format!("GET /sleep/{hostile}");
    let deadline = Instant::now() + WAIT;
    loop {
        let run = attach(
            &[
                &worker.pid.to_string(),
                "--json",
                "-e",
                "inflight().map(|r| r.label)",
            ],
            "",
        );
        let document: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
        if document["value"]
            .as_array()
            .unwrap()
            .contains(&label.clone().into())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never showed: {run:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut pty = Pty::spawn(
        &attach_bin(),
        &[&worker.pid.to_string(), "-e", "inflight()"],
        &[],
    );
    let out = pty.expect(r"31m\x7f");
    assert!(
        out.contains(r"GET /sleep/\x1b]0;owned\x07\x1b[2J\u{9b}31m\x7f"),
        "{out:?}"
    );
    assert_no_raw_controls(&out);
    pty.wait_exit();

    // A quick request (404) leaves its path as a key of the `paths` map.
    let mut answered = String::new();
    let _ = request(addr, &format!("/{hostile}")).read_to_string(&mut answered);
    assert!(answered.starts_with("HTTP/1.1 404"), "{answered:?}");
    let mut pty = Pty::spawn(&attach_bin(), &[&worker.pid.to_string(), "p", "paths"], &[]);
    let out = pty.expect("}");
    assert!(
        out.contains(r#""/\u001b]0;owned\u0007\u001b[2J\u009b31m\u007f": 1"#),
        "{out:?}"
    );
    assert_no_raw_controls(&out);
}

/// Sends `GET target` on a new connection, raw bytes and all, and returns it.
fn request(addr: std::net::SocketAddr, target: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}
