//! The contract in docs/PROTOCOL.md, as the agent and the CLI keep it: a bad `hello`
//! is answered wherever the reply FIFO can be trusted, root reaches another user's
//! worker by handing it the FIFOs, `bye` is answered and read, and requests up to the
//! 1 MiB line limit work in every mode.

use attach_cli::{ConnectOptions, Outcome, Session};
use std::path::PathBuf;

use attach_protocol::{
    encode_line, ErrorKind, ProcStatus, Reply, Request, MAX_REQUEST_LINE, PROTOCOL_VERSION,
};

use crate::support::pty::Pty;
use crate::support::raw::RawClient;
use crate::support::{attach, attach_bin, eval, Worker};

/// A refused `hello` must come back as a protocol error containing `text`, with no id.
fn refused(client: &mut RawClient, text: &str) {
    match client.reply() {
        Some(Reply::Error {
            id: None,
            kind: ErrorKind::Protocol,
            message,
            ..
        }) => assert!(
            message.contains(text) && message.contains("docs/PROTOCOL.md"),
            "{message}"
        ),
        other => panic!("expected a protocol error with {text:?}, got {other:?}"),
    }
    assert_eq!(client.reply(), None, "a refused session is closed");
}

#[test]
fn a_bad_hello_with_a_usable_token_is_answered_with_an_error() {
    let worker = Worker::fixture(&[]);
    let cases = [
        (
            r#"{"op":"hello","v":1,"token":"TOKEN","client_pid":"me"}"#,
            "unreadable hello",
        ),
        (
            r#"{"op":"hello","v":1,"token":"TOKEN","client_pid":-1}"#,
            "unreadable hello",
        ),
        (r#"{"op":"hello","token":"TOKEN"}"#, "unreadable hello"),
        (
            r#"{"op":"eval","id":1,"code":"1","token":"TOKEN"}"#,
            "must be hello",
        ),
    ];
    for (line, text) in cases {
        let mut client = RawClient::prepare(worker.pid);
        let line = line.replace("TOKEN", client.token.as_str()) + "\n";
        assert!(client.send(line.as_bytes()));
        client.ring();
        refused(&mut client, text);
    }
    let run = eval(worker.pid, "1 + 1");
    assert_eq!((run.code, run.stdout.trim()), (0, "2"), "{run:?}");
}

#[test]
fn a_hello_without_a_trusted_reply_path_is_logged_and_the_agent_goes_on() {
    let mut worker = Worker::fixture_logged(&[]);
    let hello = |token: &str| {
        format!("{{\"op\":\"hello\",\"v\":1,\"token\":\"{token}\",\"client_pid\":1}}\n")
    };
    // A malformed token names no path the agent may open.
    let mut client = RawClient::prepare(worker.pid);
    assert!(client.send(hello("../../etc/passwd").as_bytes()));
    client.ring();
    worker.wait_log("no usable token");
    drop(client);
    // A first line that is not hello and carries no token.
    let mut client = RawClient::prepare(worker.pid);
    assert!(client.send(b"{\"op\":\"ping\",\"id\":1}\n"));
    client.ring();
    worker.wait_log("no usable token");
    drop(client);
    // A well-formed token whose reply FIFO is missing.
    let mut client = RawClient::prepare(worker.pid);
    client.unlink_reply();
    let line = hello(client.token.as_str());
    assert!(client.send(line.as_bytes()));
    client.ring();
    worker.wait_log("refused the reply FIFO");
    drop(client);
    let run = eval(worker.pid, "1 + 1");
    assert_eq!((run.code, run.stdout.trim()), (0, "2"), "{run:?}");
}

#[test]
fn root_reaches_another_users_worker_only_by_handing_it_the_fifos() {
    let fixture = env!("CARGO_BIN_EXE_fixture-worker");
    let mut worker = Worker::start_with_env(
        PathBuf::from("setpriv"),
        &["--reuid=65534", "--regid=65534", "--clear-groups", fixture],
        &[("RUST_LOG", "attach=debug")],
    );
    assert_eq!(worker.first_line, "ready");
    assert_eq!(ProcStatus::of_pid(worker.pid).unwrap().euid(), Some(65534));
    // attach fchowns both FIFOs to the worker's uid.
    let run = eval(worker.pid, "counter");
    assert_eq!((run.code, run.stdout.trim()), (0, "7"), "{run:?}");
    // A client that keeps them root's: the agent cannot even open them.
    let mut client = RawClient::prepare(worker.pid);
    let hello = Request::Hello {
        v: PROTOCOL_VERSION,
        token: client.token.as_str().to_owned(),
        client_pid: std::process::id(),
    };
    assert!(client.send(&encode_line(&hello)));
    client.ring();
    let refusal = worker.wait_log("refused the request FIFO");
    assert!(
        refusal.contains("Permission denied") || refusal.contains("EACCES"),
        "{refusal}"
    );
}

#[test]
fn bye_is_answered_with_bye_and_attach_reads_it() {
    let mut worker = Worker::fixture_logged(&[]);
    let mut client = RawClient::connect(worker.pid);
    assert!(client.send(&encode_line(&Request::Bye)));
    match client.reply() {
        Some(Reply::Bye { reason }) => assert_eq!(reason, "client said bye"),
        other => panic!("expected bye, got {other:?}"),
    }
    assert_eq!(client.reply(), None, "the agent closes the reply FIFO");
    drop(client);
    worker.wait_log("session closed");
    for run in [
        eval(worker.pid, "1"),
        attach(&[&worker.pid.to_string()], "1\n2\n"),
    ] {
        assert_eq!(run.code, 0, "{run:?}");
        worker.wait_log("client said bye");
    }
    let unread: Vec<String> = worker
        .log_so_far()
        .into_iter()
        .filter(|line| line.contains("without reading bye"))
        .collect();
    assert!(
        unread.is_empty(),
        "attach must read the agent's bye: {unread:?}"
    );
}

/// An expression of exactly `bytes` bytes whose value is its string's length.
fn sized_expression(bytes: usize) -> (String, usize) {
    let frame = "\"\".len()".len();
    let text = "x".repeat(bytes - frame);
    (format!("\"{text}\".len()"), text.len())
}

/// The largest expression whose `eval` line (JSON framing and a small id included)
/// fits the 1 MiB request limit, and its value.
fn largest_expression() -> (String, usize) {
    // JSON escapes the expression's quotes: measure the framing on a sample.
    let line_len = |code: String| encode_line(&Request::Eval { id: 1, code }).len() - 1;
    let (sample, _) = sized_expression(100);
    let framing = line_len(sample) - 100;
    sized_expression(MAX_REQUEST_LINE - framing)
}

#[test]
fn a_one_shot_near_the_pipe_size_works() {
    let worker = Worker::fixture(&[]);
    // 65 500 bytes cannot wait unread behind hello; 120 000 is near the OS's cap on one
    // command-line argument (128 KiB).
    for bytes in [65_500, 120_000] {
        let (expr, len) = sized_expression(bytes);
        let run = eval(worker.pid, &expr);
        assert_eq!(
            (run.code, run.stdout.trim()),
            (0, len.to_string().as_str()),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn requests_up_to_the_line_limit_work_piped_and_through_the_library() {
    let worker = Worker::fixture(&[]);
    let (biggest, biggest_len) = largest_expression();
    let (near_pipe, near_pipe_len) = sized_expression(65_500);
    let stdin = format!("{near_pipe}\n{biggest}\n");
    let run = attach(&[&worker.pid.to_string()], &stdin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        [near_pipe_len.to_string(), biggest_len.to_string()]
    );
    let options = ConnectOptions::default();
    let value = |outcome: Outcome| match outcome {
        Outcome::Value { value, .. } => value,
        failed => panic!("{failed:?}"),
    };
    let one_shot = Session::one_shot(worker.pid, &options, &biggest).expect("one-shot");
    assert_eq!(value(one_shot), biggest_len);
    // What the interactive shell does with each line it reads.
    let mut session = Session::connect(worker.pid, &options).expect("connect");
    assert_eq!(value(session.eval(&biggest).expect("eval")), biggest_len);
    assert_eq!(
        value(session.eval(&near_pipe).expect("eval")),
        near_pipe_len
    );
}

#[test]
fn a_line_up_to_the_limit_pasted_into_the_shell_works() {
    let worker = Worker::fixture(&[]);
    let state = std::env::temp_dir().join(format!("attach-contract-{}", crate::support::unique()));
    let env = [("XDG_STATE_HOME", state.to_str().unwrap())];
    let mut pty = Pty::spawn(&attach_bin(), &[&worker.pid.to_string()], &env);
    pty.expect(")> ");
    let (expr, len) = largest_expression();
    // A bracketed paste, as a terminal sends it: the editor takes the line in one piece.
    pty.send(&format!("\x1b[200~{expr}\x1b[201~\r"));
    pty.expect(&format!("{len}\r\n"));
    pty.send("\x04");
    assert!(pty.wait_exit().success());
    let _ = std::fs::remove_dir_all(state);
}
