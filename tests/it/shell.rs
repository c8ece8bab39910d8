//! The interactive shell through a real pseudo-terminal: completion, history across
//! sessions, multiline input, Ctrl-C on a running command, Ctrl-D, colour, and the
//! target going away.

use std::path::PathBuf;

use crate::support::pty::Pty;
use crate::support::{attach_bin, Worker};

/// A fresh history directory per test.
struct StateDir(PathBuf);

impl StateDir {
    fn new() -> StateDir {
        let dir = std::env::temp_dir().join(format!(
            "attach-state-{}-{}",
            std::process::id(),
            crate::support::unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        StateDir(dir)
    }

    fn shell(&self, worker: &Worker, extra_env: &[(&str, &str)]) -> Pty {
        let mut env = vec![("XDG_STATE_HOME", self.0.to_str().unwrap())];
        env.extend_from_slice(extra_env);
        let mut pty = Pty::spawn(&attach_bin(), &[&worker.pid.to_string()], &env);
        pty.expect("attached to pid");
        pty.expect(")> ");
        pty
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Types a line and waits for the next prompt; returns what appeared in between.
fn run(pty: &mut Pty, line: &str) -> String {
    pty.send(line);
    pty.send("\r");
    pty.expect(")> ")
}

#[test]
fn tab_completes_registered_names_and_map_fields_from_the_live_agent() {
    let worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut pty = state.shell(&worker, &[]);
    pty.send("guarded_l\t");
    pty.expect("guarded_list");
    let out = run(&mut pty, ".len() * 1111");
    assert!(out.contains("3333"), "{out}");
    run(&mut pty, "let m = #{alpha_key: 7, beta: 1}");
    pty.send("m.alp\t");
    pty.expect("alpha_key");
    let out = run(&mut pty, " * 1000");
    assert!(out.contains("7000"), "{out}");
    pty.send("config.db_h\t");
    pty.expect("db_host");
    let out = run(&mut pty, "");
    assert!(out.contains("db1.internal"), "{out}");
    pty.send("\x04");
    assert!(pty.wait_exit().success());
}

#[test]
fn history_survives_the_session_and_space_prefixed_lines_are_not_kept() {
    let worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut first = state.shell(&worker, &[]);
    assert!(run(&mut first, "6 * 7").contains("42"));
    assert!(run(&mut first, " 1000 + 1").contains("1001"));
    first.send("\x04");
    assert!(first.wait_exit().success());
    let saved = std::fs::read_to_string(state.0.join("attach/history")).unwrap();
    assert!(
        saved.contains("6 * 7") && !saved.contains("1000 + 1"),
        "{saved}"
    );

    let mut second = state.shell(&worker, &[]);
    second.send("\x1b[A");
    second.expect("6 * 7");
    let out = run(&mut second, "");
    assert!(out.contains("42"), "{out}");
    second.send("\x04");
    assert!(second.wait_exit().success());
}

#[test]
fn an_open_bracket_continues_on_the_next_line_and_errors_point_at_the_column() {
    let worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut pty = state.shell(&worker, &[("NO_COLOR", "1")]);
    pty.send("fn twice(x) {\r");
    pty.send("x * 2 }\r");
    pty.expect("x * 2 }");
    pty.expect(")> ");
    let out = run(&mut pty, "twice(2121)");
    assert!(out.contains("4242"), "{out}");
    let out = run(&mut pty, "let = 5");
    assert!(out.contains("syntax error at line 1, column 5"), "{out}");
    assert!(out.contains("      ^"), "{out}");
    assert!(
        !out.contains("\x1b[1;31m"),
        "NO_COLOR keeps errors plain: {out:?}"
    );
}

#[test]
fn errors_are_coloured_on_a_terminal() {
    let worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut pty = state.shell(&worker, &[]);
    let out = run(&mut pty, "let = 5");
    assert!(out.contains("\x1b[1;31msyntax error"), "{out:?}");
}

#[test]
fn ctrl_c_stops_waiting_for_a_runaway_command_and_the_session_goes_on() {
    let worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut pty = state.shell(&worker, &[]);
    pty.send("loop {}\r");
    pty.expect("waiting");
    pty.send("\x03");
    pty.expect("stopped waiting");
    pty.expect(")> ");
    let out = run(&mut pty, "1234 + 1");
    assert!(out.contains("1235"), "{out}");
    let out = run(&mut pty, ":vars");
    assert!(out.contains("{}"), "no variables yet: {out}");
    pty.send("\x04");
    assert!(pty.wait_exit().success());
    assert_eq!(
        worker.leftover_fifos(),
        Vec::<String>::new(),
        "Ctrl-D removes the FIFOs"
    );
}

#[test]
fn the_target_going_away_is_reported_in_one_line_with_a_failing_status() {
    let mut worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut pty = state.shell(&worker, &[]);
    worker.signal(nix::sys::signal::Signal::SIGKILL);
    worker.wait_exit();
    pty.send("1 + 1\r");
    pty.expect(&format!("process {} exited", worker.pid));
    assert_eq!(pty.wait_exit().code(), Some(2));
}

#[test]
fn only_output_taller_than_the_terminal_goes_through_the_pager() {
    let worker = Worker::fixture(&[]);
    let state = StateDir::new();
    let mut pty = state.shell(&worker, &[("PAGER", "sed s/^/PAGED:/")]);
    let out = run(&mut pty, "let a = []; for n in 0..100 { a.push(n * 3) } a");
    assert!(out.contains("PAGED:  297"), "{out}");
    let out = run(&mut pty, "[1, 2]");
    assert!(!out.contains("PAGED:"), "{out}");
}
